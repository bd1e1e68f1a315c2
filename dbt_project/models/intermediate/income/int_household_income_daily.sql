{{ config(materialized='view') }}
-- One row per household per as-of date the pipeline built: the row of
-- int_household_income_changes in force on that date (valid from its as-of date until
-- the household's next change), with the 12-month window ending on the date. Stored
-- as changes, read as days: "income as of date X" is exactly what the run of X computed.
with

changes as (
    select * from {{ ref('int_household_income_changes') }}
),

as_of_dates as (
    select * from {{ ref('int_income_as_of_dates') }}
),

intervals as (
    select
        *,
        lead(valid_from) over (partition by household_id order by valid_from) as next_valid_from
    from changes
),

final as (
    select
        intervals.household_id,
        as_of_dates.as_of_date,
        cast(as_of_dates.as_of_date - interval '12 months' + interval '1 day' as date) as window_start,
        intervals.county_code,
        intervals.township_code,
        intervals.village_code,
        intervals.household_category,
        intervals.household_size,
        intervals.wages,
        intervals.net_agricultural_income,
        intervals.property_income,
        intervals.social_assistance,
        intervals.subsidies,
        intervals.public_welfare_job_pay,
        intervals.transfer_income,
        intervals.net_income,
        intervals.per_capita_net_income,
        intervals.income_items,
        intervals.line_year,
        intervals.monitoring_line,
        intervals.poverty_standard,
        intervals.gap_to_monitoring_line,
        intervals.gap_to_poverty_standard,
        intervals.is_at_or_above_monitoring_line,
        intervals.is_at_or_above_poverty_standard
    from intervals
    inner join as_of_dates
        on
            intervals.valid_from <= as_of_dates.as_of_date
            and (intervals.next_valid_from is null or intervals.next_valid_from > as_of_dates.as_of_date)
    where intervals.is_registered
)

select * from final
