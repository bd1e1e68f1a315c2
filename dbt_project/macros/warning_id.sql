{#- Deterministic warning identifier: the same facts give the same id on every rebuild. -#}
{% macro warning_id(household_id, rule_id, window_start, warning_seq) -%}
    'W' || left(md5({{ household_id }} || '|' || {{ rule_id }} || '|' || {{ window_start }} || '|' || {{ warning_seq }}), 15)
{%- endmacro %}
