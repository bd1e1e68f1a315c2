{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['payment_id'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['payment_id'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('social_assistance') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('social_assistance') }}",
        "{{ record_batch_scope('social_assistance') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- Social assistance payments to households, latest version of each payment.
with

latest as (
    {{ latest_published_rows('social_assistance', 'social_assistance', ['payment_id']) }}
),

final as (
    select
        payment_id,
        household_id,
        programme,
        amount,
        payment_date,
        enrolled_on,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
