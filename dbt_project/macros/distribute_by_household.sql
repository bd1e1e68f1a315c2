{#- Citus readiness (shared/DESIGN.md, "Scale"): on a warehouse with the citus
    extension, make the large household facts distributed tables sharded by
    household_id, so a province larger than one server spreads them over workers and
    joins on household_id stay local to a shard. Elsewhere (plain PostgreSQL, the
    tests, the county) it renders nothing: a no-op.
    Used as a post-hook of the large facts (config post_hook). A table already
    distributed is left as it is (an incremental model keeps its table between runs);
    a table rebuilt by `create table as` is distributed again after each rebuild.
    Incrementals use delete+insert, which Citus supports on distributed tables
    (MERGE into a distributed table is not supported). -#}
{% macro distribute_by_household(column='household_id') -%}
    {%- if execute and model.config.materialized in ('table', 'incremental') -%}
        {%- set found = run_query("select 1 from pg_extension where extname = 'citus'") -%}
        {%- if found and found.rows | length > 0 -%}
            select create_distributed_table('{{ this }}', '{{ column }}')
            where not exists (
                select 1 from pg_dist_partition where logicalrelid = '{{ this }}'::regclass
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
