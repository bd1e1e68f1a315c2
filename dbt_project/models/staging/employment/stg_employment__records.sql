{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['record_id'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['record_id'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('employment') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('employment') }}",
        "{{ record_batch_scope('employment') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- Employment records (recruited, employed, left), latest version of each record.
with

latest as (
    {{ latest_published_rows('employment', 'employment', ['record_id']) }}
),

final as (
    select
        record_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        {{ redact_resident_ids('employer') }} as employer,
        place,
        status as record_status,
        start_date,
        end_date,
        monthly_wage,
        record_date,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
