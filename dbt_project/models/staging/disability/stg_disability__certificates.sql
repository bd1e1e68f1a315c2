{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['certificate_id'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['certificate_id'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('disability') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('disability') }}",
        "{{ record_batch_scope('disability') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- Disability certificates, latest version of each certificate.
with

latest as (
    {{ latest_published_rows('disability', 'disability', ['certificate_id']) }}
),

final as (
    select
        certificate_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        category as disability_category,
        cast(grade as integer) as disability_grade,
        issue_date,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
