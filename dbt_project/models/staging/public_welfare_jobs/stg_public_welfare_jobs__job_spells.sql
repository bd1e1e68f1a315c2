{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['job_id'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['job_id'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('public_welfare_jobs') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('public_welfare_jobs') }}",
        "{{ record_batch_scope('public_welfare_jobs') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- Public-welfare job spells, latest version of each job.
with

latest as (
    {{ latest_published_rows('public_welfare_jobs', 'public_welfare_jobs', ['job_id']) }}
),

final as (
    select
        job_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        post,
        monthly_pay,
        start_date,
        end_date,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
