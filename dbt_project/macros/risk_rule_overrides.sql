{#- The thresholds a what-if run puts in place of seed risk_rules', as a query with
    columns rule_id, yellow_threshold, red_threshold (numeric(14,2)); no rows in
    production. From var('risk_rule_overrides'): a list of
    {rule_id, yellow_threshold, red_threshold}, an omitted threshold keeping the seed's.
    Raises a compiler error for a rule id that is not an identifier or a threshold
    that is not a decimal number (the values are written into SQL). -#}
{% macro risk_rule_overrides() -%}
    {%- set overrides = var('risk_rule_overrides', []) -%}
    {%- for override in overrides -%}
        {%- if not modules.re.match('^[A-Z][A-Z0-9_]*$', override.rule_id | string) -%}
            {{ exceptions.raise_compiler_error("risk_rule_overrides: bad rule_id " ~ override.rule_id) }}
        {%- endif -%}
        {%- for key in ['yellow_threshold', 'red_threshold'] -%}
            {%- set value = override.get(key) -%}
            {%- if value is not none and not modules.re.match('^-?[0-9]+(\.[0-9]+)?$', value | string) -%}
                {{ exceptions.raise_compiler_error("risk_rule_overrides: " ~ key ~ " of " ~ override.rule_id ~ " is not a number: " ~ value) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if overrides %}
        select
            given.rule_id,
            cast(given.yellow_threshold as numeric(14, 2)) as yellow_threshold,
            cast(given.red_threshold as numeric(14, 2)) as red_threshold
        from (
            values
            {%- for override in overrides %}
                (
                    '{{ override.rule_id }}',
                    {{ override.get('yellow_threshold') if override.get('yellow_threshold') is not none else 'null' }},
                    {{ override.get('red_threshold') if override.get('red_threshold') is not none else 'null' }}
                ){{ "," if not loop.last }}
            {%- endfor %}
        ) as given (rule_id, yellow_threshold, red_threshold)
    {%- else %}
        select
            cast(null as text) as rule_id,
            cast(null as numeric(14, 2)) as yellow_threshold,
            cast(null as numeric(14, 2)) as red_threshold
        where false
    {%- endif %}
{%- endmacro %}
