{{ config(post_hook=["{{ distribute_by_household() }}"]) }}
-- From every warning transition to the rows and files behind it: each evidence id
-- (a settlement, a home visit, an assessment, a student record, a certificate, a
-- payment, an employment record, or a household's rows in a register extract) with
-- the batch, the file name and SHA-256 and the row number of the record in its file.
-- Income signals point to a household's row of int_household_income_daily (derived
-- from many records; batch and file are null here, the items are in
-- int_income_items_in_window). Auditors start here to trace a warning.
with

events as (
    select * from {{ ref('fct_risk_warning_events') }}
),

evidence_rows as (
    select
        'stg_medical_settlements__settlements' as evidence_model,
        settlement_id as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_medical_settlements__settlements') }}
    union all
    select
        'stg_verifications__home_visits' as evidence_model,
        visit_id as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_verifications__home_visits') }}
    union all
    select
        'stg_housing_water__assessments' as evidence_model,
        household_id || '|' || assessed_on as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_housing_water__assessments') }}
    union all
    select
        'stg_education__student_records' as evidence_model,
        record_id as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_education__student_records') }}
    union all
    select
        'stg_disability__certificates' as evidence_model,
        certificate_id as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_disability__certificates') }}
    union all
    select
        'stg_social_assistance__payments' as evidence_model,
        payment_id as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_social_assistance__payments') }}
    union all
    select
        'stg_employment__records' as evidence_model,
        record_id as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_employment__records') }}
    union all
    select
        'stg_household_register__extract_members' as evidence_model,
        household_id || '|' || extract_date as evidence_id,
        batch_id,
        source_row_number
    from {{ ref('stg_household_register__extract_members') }}
),

batches as (
    select * from {{ ref('stg_audit__load_batches') }}
),

evidence as (
    select
        events.warning_event_id,
        events.warning_id,
        events.household_id,
        events.transition,
        events.event_date,
        events.evidence_model,
        unnest(events.evidence_ids) as evidence_id
    from events
),

located as (
    select
        evidence.*,
        evidence_rows.batch_id,
        evidence_rows.source_row_number
    from evidence
    left join evidence_rows
        on
            evidence.evidence_model = evidence_rows.evidence_model
            and evidence.evidence_id = evidence_rows.evidence_id
),

final as (
    select
        located.warning_event_id || '|' || located.evidence_id || '|'
        || coalesce(cast(located.source_row_number as text), '') as lineage_id,
        located.warning_event_id,
        located.warning_id,
        located.household_id,
        located.transition,
        located.event_date,
        located.evidence_model,
        located.evidence_id,
        located.batch_id,
        batches.source,
        batches.file_name,
        batches.file_hash,
        batches.logical_date as batch_logical_date,
        located.source_row_number
    from located
    left join batches on located.batch_id = batches.batch_id
)

select * from final
