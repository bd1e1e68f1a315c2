{{ config(
    materialized='incremental',
    unique_key=['household_id', 'as_of_date'],
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}
-- One row per household per as-of date: the components of its net income over
-- the 12 months ending on the as-of date (yuan), its size, its annual per-capita
-- net income, and how that compares with the monitoring line and the poverty
-- standard of its province and year (seed monitoring_lines). Rebuilding a date
-- replaces that date's rows; other dates are kept.
with

households as (
    select * from {{ ref('int_households') }}
),

items as (
    select * from {{ ref('int_income_items_in_window') }}
),

lines as (
    select * from {{ ref('monitoring_lines') }}
),

components as (
    select
        household_id,
        sum(amount) filter (where income_component = 'wages') as wages,
        sum(amount) filter (where income_component = 'net_agricultural_income') as net_agricultural_income,
        sum(amount) filter (where income_component = 'property_income') as property_income,
        sum(amount) filter (where income_component = 'social_assistance') as social_assistance,
        sum(amount) filter (where income_component = 'subsidies') as subsidies,
        sum(amount) filter (where income_component = 'public_welfare_job_pay') as public_welfare_job_pay,
        count(*) as income_items
    from items
    group by household_id
),

measured as (
    select
        households.household_id,
        households.county_code,
        households.township_code,
        households.village_code,
        households.household_category,
        households.member_count as household_size,
        coalesce(components.wages, 0) as wages,
        coalesce(components.net_agricultural_income, 0) as net_agricultural_income,
        coalesce(components.property_income, 0) as property_income,
        coalesce(components.social_assistance, 0) as social_assistance,
        coalesce(components.subsidies, 0) as subsidies,
        coalesce(components.public_welfare_job_pay, 0) as public_welfare_job_pay,
        coalesce(components.income_items, 0) as income_items
    from households
    left join components on households.household_id = components.household_id
),

totals as (
    select
        *,
        social_assistance + subsidies + public_welfare_job_pay as transfer_income,
        wages + net_agricultural_income + property_income + social_assistance + subsidies
        + public_welfare_job_pay as net_income
    from measured
),

final as (
    select
        totals.household_id,
        {{ as_of_date() }} as as_of_date,
        cast({{ as_of_date() }} - interval '12 months' + interval '1 day' as date) as window_start,
        totals.county_code,
        totals.township_code,
        totals.village_code,
        totals.household_category,
        totals.household_size,
        cast(totals.wages as numeric(14, 2)) as wages,
        cast(totals.net_agricultural_income as numeric(14, 2)) as net_agricultural_income,
        cast(totals.property_income as numeric(14, 2)) as property_income,
        cast(totals.social_assistance as numeric(14, 2)) as social_assistance,
        cast(totals.subsidies as numeric(14, 2)) as subsidies,
        cast(totals.public_welfare_job_pay as numeric(14, 2)) as public_welfare_job_pay,
        cast(totals.transfer_income as numeric(14, 2)) as transfer_income,
        cast(totals.net_income as numeric(14, 2)) as net_income,
        cast(round(totals.net_income / nullif(totals.household_size, 0), 2) as numeric(14, 2))
            as per_capita_net_income,
        totals.income_items,
        lines.year as line_year,
        lines.monitoring_line,
        lines.poverty_standard,
        cast(
            round(totals.net_income / nullif(totals.household_size, 0), 2) - lines.monitoring_line
            as numeric(14, 2)
        ) as gap_to_monitoring_line,
        cast(
            round(totals.net_income / nullif(totals.household_size, 0), 2) - lines.poverty_standard
            as numeric(14, 2)
        ) as gap_to_poverty_standard,
        round(totals.net_income / nullif(totals.household_size, 0), 2) >= lines.monitoring_line
            as is_at_or_above_monitoring_line,
        round(totals.net_income / nullif(totals.household_size, 0), 2) >= lines.poverty_standard
            as is_at_or_above_poverty_standard
    from totals
    left join lines
        on
            left(totals.county_code, 2) = lines.province_code
            and extract(year from {{ as_of_date() }}) = lines.year
)

select * from final
