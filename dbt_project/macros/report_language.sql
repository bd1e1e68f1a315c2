{#- The language of names shown to people (risk factors, warning levels, income bands): the seeds carry
    one column per language, name_<language>; HM_LANGUAGE picks it, as for the report and the dashboard
    (household_monitoring.i18n: default zh_CN, en by configuration). zh, zh-CN, zh_CN -> zh_cn; en, en_US -> en. -#}
{% macro report_language() -%}
    {%- set wanted = env_var('HM_LANGUAGE', 'zh_CN') | lower | replace('-', '_') -%}
    {%- if wanted.startswith('zh') -%}zh_cn
    {%- elif wanted.startswith('en') -%}en
    {%- else -%}{{ exceptions.raise_compiler_error("HM_LANGUAGE=" ~ wanted ~ ": the seeds have names in zh_CN and en only") }}
    {%- endif -%}
{%- endmacro %}

{#- The name column of a seed row in the report language: {{ localized_name('factors') }} -> factors.name_zh_cn -#}
{% macro localized_name(relation) -%}
    {{ relation }}.name_{{ report_language() }}
{%- endmacro %}
