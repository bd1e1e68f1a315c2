{{ config(materialized='view') }}
-- One row per household per as-of date: net income over the 12 months ending on the
-- as-of date by component (yuan), size, annual per-capita net income and the gap to
-- the monitoring line and the poverty standard. A view of the incremental
-- int_household_income_daily, which keeps every as-of date the pipeline has built
-- (the income rule reads its history too).
with

income as (
    select * from {{ ref('int_household_income_daily') }}
),

final as (
    select * from income
)

select * from final  -- noqa: AM04
