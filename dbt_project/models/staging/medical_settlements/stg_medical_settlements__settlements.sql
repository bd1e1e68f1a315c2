{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['settlement_id'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['settlement_id'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('medical_settlements') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('medical_settlements') }}",
        "{{ record_batch_scope('medical_settlements') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- One row per settlement. A settlement sent again (a correction) is taken from
-- the latest published batch; the earlier row stays in raw for the audit trail.
with

latest as (
    {{ latest_published_rows('medical_settlements', 'medical_settlements', ['settlement_id']) }}
),

final as (
    select
        settlement_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        hospital,
        admission_date,
        discharge_date,
        total_cost,
        basic_insurance,
        critical_illness_insurance,
        medical_assistance,
        out_of_pocket,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
