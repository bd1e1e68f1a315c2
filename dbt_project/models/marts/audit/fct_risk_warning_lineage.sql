{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='household_id',
    on_schema_change='fail',
    indexes=[{'columns': ['household_id']}],
    pre_hook=[
        "{{ evidence_scope_prepare() }}",
        "{{ household_changes_prepare(upstream=[ref('fct_risk_warning_events')], moved=lineage_evidence_moved()) }}",
    ],
    post_hook=[
        "{{ household_changes_record() }}",
        "{{ record_evidence_scope() }}",
        "{{ ensure_index(['batch_id']) }}",
        "{{ ensure_index(['evidence_model', 'evidence_id']) }}",
        "{{ distribute_by_household() }}",
    ]
) }}
-- From every warning transition to the rows and files behind it: each evidence id
-- (a settlement, a home visit, an assessment, a student record, a certificate, a
-- payment, an employment record, or a household's rows in a register extract) with
-- the batch, the file name and SHA-256 and the row number of the record in its file.
-- Income signals point to a household's row of int_household_income_daily (derived
-- from many records; batch and file are null here, the items are in
-- int_income_items_in_window). Auditors start here to trace a warning.
-- Incremental by household (issue 10, macros/incremental_by_household.sql): a daily run
-- derives again the households fct_risk_warning_events computed again since (its change
-- feed) and those whose evidence may have moved to another batch or row (a correction, a
-- late file, a re-run of a past date: the evidence of the batches that entered or left the
-- evidence tables' scopes, macros/risk_evidence_rows.sql).
with

located as (
    {{ lineage_evidence_located(changed_households_only()) }}
),

batches as (
    select * from {{ ref('stg_audit__load_batches') }}
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
