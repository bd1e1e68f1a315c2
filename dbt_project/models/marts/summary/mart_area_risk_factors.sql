-- Open warnings by risk factor and level for the county, each township and each
-- village, as of the as-of date (scenario S4, the breakdown of mart_area_summary's
-- open_warnings): one row per area, factor and level with warnings open; village
-- rows add up to their township's and township rows to the county's.
with

households as (
    select * from {{ ref('int_households') }}
),

warnings as (
    select * from {{ ref('fct_risk_warnings') }}
),

open_warnings as (
    select
        households.county_code,
        households.township_code,
        households.village_code,
        warnings.risk_factor,
        warnings.warning_level,
        warnings.household_id
    from warnings
    inner join households on warnings.household_id = households.household_id
    where warnings.is_open
),

rolled_up as (
    select
        county_code,
        township_code,
        village_code,
        risk_factor,
        warning_level,
        count(*) as open_warnings,
        count(distinct household_id) as households_with_open_warning
    from open_warnings
    group by grouping sets (
        (county_code, risk_factor, warning_level),
        (county_code, township_code, risk_factor, warning_level),
        (county_code, township_code, village_code, risk_factor, warning_level)
    )
),

final as (
    select
        coalesce(village_code, township_code, county_code) || '|' || risk_factor || '|' || warning_level
            as area_factor_level_id,
        {{ area_columns() }},
        risk_factor,
        warning_level,
        open_warnings,
        households_with_open_warning,
        {{ as_of_date() }} as as_of_date
    from rolled_up
)

select * from final
