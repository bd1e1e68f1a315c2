-- From every warning transition to the rows and files behind it: each evidence id
-- (a settlement or a home visit) with the batch, the file name and SHA-256 and the
-- row number of the record in its file. Auditors start here to trace a warning.
with

events as (
    select * from {{ ref('fct_risk_warning_events') }}
),

settlements as (
    select * from {{ ref('stg_medical_settlements__settlements') }}
),

visits as (
    select * from {{ ref('stg_verifications__home_visits') }}
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
        coalesce(settlements.batch_id, visits.batch_id) as batch_id,
        coalesce(settlements.source_row_number, visits.source_row_number) as source_row_number
    from evidence
    left join settlements
        on
            evidence.evidence_model = 'stg_medical_settlements__settlements'
            and evidence.evidence_id = settlements.settlement_id
    left join visits
        on
            evidence.evidence_model = 'stg_verifications__home_visits'
            and evidence.evidence_id = visits.visit_id
),

final as (
    select
        located.warning_event_id || '|' || located.evidence_id as lineage_id,
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
