{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['household_id', 'assessed_on'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['household_id', 'assessed_on'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('housing_water') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('housing_water') }}",
        "{{ record_batch_scope('housing_water') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- House safety and drinking water assessments, latest version of each assessment.
with

latest as (
    {{ latest_published_rows('housing_water', 'housing_water', ['household_id', 'assessed_on']) }}
),

final as (
    select
        household_id,
        assessed_on,
        house_safety_rating,
        safe_drinking_water = 'yes' as has_safe_drinking_water,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
