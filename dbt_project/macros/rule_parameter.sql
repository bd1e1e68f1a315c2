{#- The value of a rule parameter from seed rule_parameters, as a scalar subquery
    (numeric). A missing parameter yields null, which the seed's not_null and
    unique tests and the callers' comparisons make visible. -#}
{% macro rule_parameter(rule_id, parameter) -%}
    (
        select rule_parameters.value
        from {{ ref('rule_parameters') }} as rule_parameters
        where rule_parameters.rule_id = '{{ rule_id }}' and rule_parameters.parameter = '{{ parameter }}'
    )
{%- endmacro %}
