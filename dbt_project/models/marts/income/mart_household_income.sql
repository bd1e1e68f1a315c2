{{ config(materialized='view') }}
-- One row per household per as-of date: net income over the 12 months ending on the
-- as-of date by component (yuan), size, annual per-capita net income and the gap to
-- the monitoring line and the poverty standard. A view of int_household_income_daily:
-- income is stored as changes (intermediate.int_household_income_changes, a row when a
-- household's figures change) and read back for every as-of date the pipeline has
-- built, so `where as_of_date = X` gives exactly what the run of X computed.
with

income as (
    select * from {{ ref('int_household_income_daily') }}
),

final as (
    select * from income
)

select * from final  -- noqa: AM04
