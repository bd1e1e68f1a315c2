-- Warnings by township, village, risk factor and level as of the as-of date, with
-- the area names: the open ones (awaiting a home visit or confirmed), and all the
-- warnings raised so far. One row per village, factor and level that has had a
-- warning. For BI tools (the analyst role reads this schema).
with

warnings as (
    select * from {{ ref('fct_risk_warnings') }}
),

households as (
    select * from {{ ref('mart_household_risk') }}
),

divisions as (
    select * from {{ ref('admin_divisions') }}
),

factors as (
    select * from {{ ref('risk_factors') }}
),

levels as (
    select * from {{ ref('warning_levels') }}
),

counted as (
    select
        households.township_code,
        households.village_code,
        warnings.risk_factor_code,
        warnings.risk_factor,
        warnings.warning_level,
        count(*) filter (where warnings.is_open) as open_warnings,
        count(*) filter (where warnings.status = 'awaiting_verification') as awaiting_verification,
        count(*) filter (where warnings.status = 'confirmed') as confirmed_warnings,
        count(*) filter (where warnings.status = 'lifted') as lifted_warnings,
        count(*) as warnings_raised
    from warnings
    inner join households on warnings.household_id = households.household_id
    group by
        households.township_code,
        households.village_code,
        warnings.risk_factor_code,
        warnings.risk_factor,
        warnings.warning_level
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        counted.township_code,
        townships.division_name as township_name,
        counted.village_code,
        villages.division_name as village_name,
        counted.risk_factor_code,
        counted.risk_factor,
        counted.warning_level,
        {{ localized_name('factors') }} as risk_factor_name,
        {{ localized_name('levels') }} as warning_level_name,
        counted.open_warnings,
        counted.awaiting_verification,
        counted.confirmed_warnings,
        counted.lifted_warnings,
        counted.warnings_raised
    from counted
    left join divisions as townships on counted.township_code = townships.division_code
    left join divisions as villages on counted.village_code = villages.division_code
    left join factors on counted.risk_factor_code = factors.risk_factor_code
    left join levels on counted.warning_level = levels.warning_level
)

select * from final
