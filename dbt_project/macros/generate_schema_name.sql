{#- Schemas are named as configured (staging, intermediate, marts, reference), not
    prefixed with the target schema: analysts and BI tools query marts.<model>.
    A what-if run (household_monitoring.whatif) sets var('schema_prefix') so that the
    models it rebuilds go to <prefix>_<schema> and production is never written. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {%- if var('schema_prefix', none) -%}{{ var('schema_prefix') }}_{{ base }}{%- else -%}{{ base }}{%- endif -%}
{%- endmacro %}
