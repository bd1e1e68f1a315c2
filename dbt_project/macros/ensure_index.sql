{#- Post-hook: an index on columns of this table, created when the table has none on exactly
    those columns (in that order). For an index added to an incremental model after its table
    was built: dbt creates config indexes only with the table, so a table built by an earlier
    release gets the index on its next run, and a new one on its first. -#}
{% macro ensure_index(columns) -%}
    do $$
    begin
        if not exists (
            select 1
            from pg_index
            where
                indrelid = '{{ this }}'::regclass
                and indkey::text = (
                    select string_agg(attnum::text, ' ' order by position)
                    from unnest(array[{% for column in columns %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}])
                        with ordinality as wanted (name, position)
                    inner join pg_attribute
                        on attrelid = '{{ this }}'::regclass and attname = wanted.name
                )
        ) then
            create index on {{ this }} ({{ columns | join(', ') }});
        end if;
    end
    $$
{%- endmacro %}
