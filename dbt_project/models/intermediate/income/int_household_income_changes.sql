{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['household_id', 'valid_from'],
    full_refresh=false,
    on_schema_change='fail',
    indexes=[{'columns': ['household_id', 'valid_from'], 'unique': True}],
    post_hook=["{{ distribute_by_household() }}"]
) }}
-- Household net income kept as changes (issue 10): a household's row is written on
-- the as-of date its figures change (valid from that date until its next row), not
-- once per household per day. The figures are those of the 12 months ending on the
-- as-of date: the components of net income (yuan), the household's size, its annual
-- per-capita net income, and how that compares with the monitoring line and the
-- poverty standard of its province and year (seed monitoring_lines).
-- A daily run computes every household's figures as of the date and writes the rows
-- that differ from the row in force the day before (income_fingerprint), plus a row
-- with is_registered false for a household no longer in the register. A re-run of a
-- date replaces that date's rows (delete+insert on household and date); rows of other
-- dates are kept. The history is what each run knew on its date (a later correction
-- does not rewrite an earlier date's income), so --full-refresh never rebuilds it
-- (full_refresh=false); int_household_income_daily reads it back by as-of date.
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

today as (
    select
        totals.household_id,
        {{ as_of_date() }} as valid_from,
        true as is_registered,
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
),

fingerprinted as (
    select
        *,
        md5(
            cast(
                row(
                    county_code, township_code, village_code, household_category, household_size, wages,
                    net_agricultural_income, property_income, social_assistance, subsidies, public_welfare_job_pay,
                    transfer_income, net_income, per_capita_net_income, income_items, line_year, monitoring_line,
                    poverty_standard, gap_to_monitoring_line, gap_to_poverty_standard, is_at_or_above_monitoring_line,
                    is_at_or_above_poverty_standard
                ) as text
            )
        ) as income_fingerprint
    from today
),

{% if is_incremental() %}
    -- each household's row in force the day before, and the rows already written for the date
    in_force as (
        select distinct on (household_id) *
        from {{ this }}
        where valid_from < {{ as_of_date() }}
        order by household_id asc, valid_from desc
    ),

    on_the_date as (
        select * from {{ this }}
        where valid_from = {{ as_of_date() }}
    ),

    known_before as (
        select household_id from in_force
        where is_registered
        union
        select household_id from on_the_date
        where is_registered
    ),

    -- households no longer in the register on the date: a row that closes their income
    unregistered as (
        select
            known_before.household_id,
            {{ as_of_date() }} as valid_from,
            false as is_registered,
            cast(null as text) as county_code,
            cast(null as text) as township_code,
            cast(null as text) as village_code,
            cast(null as text) as household_category,
            cast(null as bigint) as household_size,
            cast(null as numeric(14, 2)) as wages,
            cast(null as numeric(14, 2)) as net_agricultural_income,
            cast(null as numeric(14, 2)) as property_income,
            cast(null as numeric(14, 2)) as social_assistance,
            cast(null as numeric(14, 2)) as subsidies,
            cast(null as numeric(14, 2)) as public_welfare_job_pay,
            cast(null as numeric(14, 2)) as transfer_income,
            cast(null as numeric(14, 2)) as net_income,
            cast(null as numeric(14, 2)) as per_capita_net_income,
            cast(null as bigint) as income_items,
            cast(null as integer) as line_year,
            cast(null as numeric(14, 2)) as monitoring_line,
            cast(null as numeric(14, 2)) as poverty_standard,
            cast(null as numeric(14, 2)) as gap_to_monitoring_line,
            cast(null as numeric(14, 2)) as gap_to_poverty_standard,
            cast(null as boolean) as is_at_or_above_monitoring_line,
            cast(null as boolean) as is_at_or_above_poverty_standard,
            'unregistered' as income_fingerprint
        from known_before
        left join fingerprinted on known_before.household_id = fingerprinted.household_id
        where fingerprinted.household_id is null
    ),

    candidates as (
        select * from fingerprinted
        union all
        select * from unregistered
    ),

    final as (
        select candidates.*
        from candidates
        left join in_force on candidates.household_id = in_force.household_id
        left join on_the_date on candidates.household_id = on_the_date.household_id
        where
            candidates.income_fingerprint is distinct from in_force.income_fingerprint
            or on_the_date.household_id is not null
    )
{% else %}
    final as (
        select * from fingerprinted
    )
{% endif %}

select * from final
