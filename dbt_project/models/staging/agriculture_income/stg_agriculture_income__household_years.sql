{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['household_id', 'income_year'],
    on_schema_change='fail',
    indexes=[
        {'columns': ['household_id', 'income_year'], 'unique': True},
        {'columns': ['batch_id']},
        {'columns': ['known_on']},
    ],
    pre_hook=["{{ batch_scope_prepare('agriculture_income') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('agriculture_income') }}",
        "{{ record_batch_scope('agriculture_income') }}",
    ]
) }}
-- Incremental (macros/incremental_staging.sql): a daily run derives again only the
-- records of batches published, superseded or moved out of the as-of scope since the
-- last build.
-- Agricultural income per household and year, latest version of each household-year.
with

latest as (
    {{ latest_published_rows('agriculture_income', 'agriculture_income', ['household_id', 'income_year']) }}
),

final as (
    select
        household_id,
        cast(income_year as integer) as income_year,
        land_area_mu,
        main_crop,
        planting_net_income,
        livestock_net_income,
        land_transfer_income,
        {{ batch_lineage_columns() }},
        _sheet as source_sheet
    from latest
)

select * from final
