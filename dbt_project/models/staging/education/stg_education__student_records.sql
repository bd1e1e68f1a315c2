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
    pre_hook=["{{ batch_scope_prepare('education') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('education') }}",
        "{{ record_batch_scope('education') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- Student records (enrolled, dropped out, graduated), latest version of each record.
with

latest as (
    {{ latest_published_rows('education', 'education', ['record_id']) }}
),

final as (
    select
        record_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        school,
        stage,
        status as school_status,
        aid_amount,
        record_date,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
