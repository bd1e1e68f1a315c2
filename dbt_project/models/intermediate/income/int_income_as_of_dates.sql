{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='as_of_date',
    full_refresh=false
) }}
-- The as-of dates the pipeline has built, one row each: the dates at which
-- int_household_income_daily (and marts.mart_household_income) describe income.
-- A record of what was built, like the income history itself: never rebuilt by
-- --full-refresh (full_refresh=false).
with

final as (
    select {{ as_of_date() }} as as_of_date
)

select * from final
