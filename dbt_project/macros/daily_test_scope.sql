{#- The rows a test of a history table checks. A test configured with
    `where: "daily_scope:<date column>"` checks, in a daily run (an as-of date given, no
    --full-refresh), only the rows of that date, so it costs what the day added; in a full
    build (--full-refresh, no as-of date, or var test_all: true) every row.
    dbt applies a test's `where` through get_where_subquery (overridden here, the documented
    way to customise it); custom macros cannot be called inside a test's config itself. -#}
{% macro daily_test_scope(date_column) -%}
    {%- if var('as_of_date') and not flags.FULL_REFRESH and not var('test_all', false) -%}
        {{ date_column }} = {{ as_of_date() }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and where.startswith('daily_scope:') -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ daily_test_scope(where[12:] | trim) }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- elif where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
