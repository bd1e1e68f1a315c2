{#- Generated from expectations/contracts/*.yml by `hm dbt-sources`; do not edit.
    Every contract's source with its freshness (days), in file-name order. -#}
{% macro contract_sources() -%}
    {{ return([
        {'name': 'agriculture_income', 'warn_after_days': 120, 'error_after_days': 400},
        {'name': 'disability', 'warn_after_days': 35, 'error_after_days': 70},
        {'name': 'education', 'warn_after_days': 35, 'error_after_days': 120},
        {'name': 'employment', 'warn_after_days': 7, 'error_after_days': 31},
        {'name': 'household_register', 'warn_after_days': 35, 'error_after_days': 70},
        {'name': 'housing_water', 'warn_after_days': 90, 'error_after_days': 400},
        {'name': 'medical_settlements', 'warn_after_days': 2, 'error_after_days': 7},
        {'name': 'public_welfare_jobs', 'warn_after_days': 35, 'error_after_days': 70},
        {'name': 'social_assistance', 'warn_after_days': 35, 'error_after_days': 70},
        {'name': 'verifications', 'warn_after_days': 7, 'error_after_days': 30},
        {'name': 'village_officials', 'warn_after_days': 90, 'error_after_days': 400}
    ]) }}
{%- endmacro %}
