{#- Post-hook of every model: ANALYZE the table (or incremental table) just written,
    so the models and tests that read it next are planned with its real row counts.
    A table created by `create table as` has no statistics until autovacuum gets to
    it; the planner then assumes a few rows and nests loops over tens of thousands
    (issue 10: one query > 60 s before, 1.7 s after ANALYZE). ANALYZE samples at most
    300 x default_statistics_target rows, so its cost does not grow with the table.
    Views have nothing to analyze: no-op. -#}
{% macro analyze_after_write() -%}
    {%- if execute and model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
