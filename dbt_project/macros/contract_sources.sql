{#- Generated from expectations/contracts/*.yml by `hm dbt-sources`; do not edit.
    Every contract's source with its freshness (days) and its columns, in file-name order. -#}
{% macro contract_sources() -%}
    {{ return([
        {'name': 'agriculture_income', 'warn_after_days': 120, 'error_after_days': 400,
         'columns': ['household_id', 'income_year', 'land_area_mu', 'main_crop', 'planting_net_income', 'livestock_net_income', 'land_transfer_income']},
        {'name': 'disability', 'warn_after_days': 35, 'error_after_days': 70,
         'columns': ['certificate_id', 'person_id', 'category', 'grade', 'issue_date']},
        {'name': 'education', 'warn_after_days': 35, 'error_after_days': 120,
         'columns': ['record_id', 'person_id', 'school', 'stage', 'status', 'aid_amount', 'record_date']},
        {'name': 'employment', 'warn_after_days': 7, 'error_after_days': 31,
         'columns': ['record_id', 'person_id', 'person_name', 'employer', 'place', 'status', 'start_date', 'end_date', 'monthly_wage', 'record_date']},
        {'name': 'household_register', 'warn_after_days': 35, 'error_after_days': 70,
         'columns': ['household_id', 'person_id', 'person_name', 'relation', 'sex', 'birth_date', 'village_code', 'household_category', 'labour_capacity', 'member_status', 'status_changed_on']},
        {'name': 'housing_water', 'warn_after_days': 90, 'error_after_days': 400,
         'columns': ['household_id', 'house_safety_rating', 'safe_drinking_water', 'assessed_on']},
        {'name': 'medical_settlements', 'warn_after_days': 2, 'error_after_days': 7,
         'columns': ['settlement_id', 'person_id', 'person_name', 'hospital', 'admission_date', 'discharge_date', 'total_cost', 'basic_insurance', 'critical_illness_insurance', 'medical_assistance', 'out_of_pocket']},
        {'name': 'public_welfare_jobs', 'warn_after_days': 35, 'error_after_days': 70,
         'columns': ['job_id', 'person_id', 'post', 'monthly_pay', 'start_date', 'end_date']},
        {'name': 'social_assistance', 'warn_after_days': 35, 'error_after_days': 70,
         'columns': ['payment_id', 'household_id', 'programme', 'amount', 'payment_date', 'enrolled_on']},
        {'name': 'verifications', 'warn_after_days': 7, 'error_after_days': 30,
         'columns': ['visit_id', 'warning_id', 'household_id', 'visit_date', 'verifier', 'result', 'note', 'annual_income_found']},
        {'name': 'village_officials', 'warn_after_days': 90, 'error_after_days': 400,
         'columns': ['official_id', 'official_name', 'role', 'area_code', 'phone', 'email', 'active_from', 'active_to']}
    ]) }}
{%- endmacro %}
