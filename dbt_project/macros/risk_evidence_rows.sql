{#- Lineage of warning evidence (fct_risk_warning_lineage, issue 10): every row an evidence
    id of a warning transition can name, by evidence model and id, with the batch and the row
    number of the record's latest version. One place for the model and for the change
    detection of its daily run (lineage_evidence_located). -#}
{% macro risk_evidence_rows() -%}
    {#- (evidence model, the expression of its evidence id): the ids fct_risk_warning_events names -#}
    {%- set evidence_models = [
        ('stg_medical_settlements__settlements', 'settlement_id'),
        ('stg_verifications__home_visits', 'visit_id'),
        ('stg_housing_water__assessments', "household_id || '|' || assessed_on"),
        ('stg_education__student_records', 'record_id'),
        ('stg_disability__certificates', 'certificate_id'),
        ('stg_social_assistance__payments', 'payment_id'),
        ('stg_employment__records', 'record_id'),
        ('stg_household_register__extract_members', "household_id || '|' || extract_date"),
    ] -%}
    {%- for model, evidence_id in evidence_models %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        '{{ model }}' as evidence_model,
        {{ evidence_id }} as evidence_id,
        batch_id,
        source_row_number
    from {{ ref(model) }}
    {%- endfor %}
{%- endmacro %}

{#- Each evidence id of each warning transition, located: the lineage model's input per
    household (transition, evidence id, and the batch and row it is found in now). -#}
{% macro lineage_evidence_located(household_filter='true') -%}
    select
        evidence.household_id,
        evidence.warning_event_id,
        evidence.warning_id,
        evidence.transition,
        evidence.event_date,
        evidence.evidence_model,
        evidence.evidence_id,
        evidence_rows.batch_id,
        evidence_rows.source_row_number
    from (
        -- distinct: an accumulated evidence list names a corrected settlement twice (its first
        -- version and its correction); the lineage lists the row once
        select distinct
            household_id,
            warning_event_id,
            warning_id,
            transition,
            event_date,
            evidence_model,
            unnest(evidence_ids) as evidence_id
        from {{ ref('fct_risk_warning_events') }}
        where {{ household_filter }}
    ) as evidence
    left join ({{ risk_evidence_rows() }}) as evidence_rows
        on
            evidence.evidence_model = evidence_rows.evidence_model
            and evidence.evidence_id = evidence_rows.evidence_id
{%- endmacro %}
