-- The county view (scenario S4): for the county, each township and each village,
-- as of the as-of date, the households monitored, those with at least one member
-- employed that day, those at or above the monitoring line and the poverty
-- standard, and the open warnings by level. One row per area; village rows add up
-- to their township's row and township rows to the county's (grouping sets over
-- the same households, tested in tests/assert_area_summary_rolls_up.sql).
with

households as (
    select * from {{ ref('int_households') }}
),

members as (
    select * from {{ ref('int_household_members') }}
),

employment as (
    select * from {{ ref('fct_person_employment_status') }}
),

income as (
    select * from {{ ref('mart_household_income') }}
),

risk as (
    select * from {{ ref('mart_household_risk') }}
),

employed_households as (
    select distinct members.household_id
    from members
    inner join employment on members.person_key = employment.person_key
    where
        members.is_living
        and employment.is_employed
        and employment.valid_from <= {{ as_of_date() }}
        and (employment.valid_to is null or employment.valid_to >= {{ as_of_date() }})
),

measured as (
    select
        households.household_id,
        households.county_code,
        households.township_code,
        households.village_code,
        households.household_category,
        employed_households.household_id is not null as has_employed_member,
        coalesce(income.is_at_or_above_monitoring_line, false) as is_at_or_above_monitoring_line,
        coalesce(income.is_at_or_above_poverty_standard, false) as is_at_or_above_poverty_standard,
        coalesce(risk.open_warnings, 0) as open_warnings,
        risk.highest_open_level
    from households
    left join employed_households on households.household_id = employed_households.household_id
    left join income
        on
            households.household_id = income.household_id
            and income.as_of_date = {{ as_of_date() }}
    left join risk on households.household_id = risk.household_id
),

rolled_up as (
    select
        county_code,
        township_code,
        village_code,
        count(*) as households_monitored,
        count(*) filter (where household_category <> 'lifted_out_of_poverty') as households_not_lifted,
        count(*) filter (where has_employed_member) as households_with_employed_member,
        count(*) filter (where is_at_or_above_monitoring_line) as households_at_or_above_monitoring_line,
        count(*) filter (where is_at_or_above_poverty_standard) as households_at_or_above_poverty_standard,
        count(*) filter (where open_warnings > 0) as households_with_open_warning,
        count(*) filter (where highest_open_level = 'red') as households_with_open_red_warning,
        count(*) filter (where highest_open_level = 'yellow') as households_with_open_yellow_warning,
        sum(open_warnings) as open_warnings
    from measured
    group by grouping sets ((county_code), (county_code, township_code), (county_code, township_code, village_code))
),

final as (
    select
        {{ area_columns() }},
        households_monitored,
        households_not_lifted,
        households_with_employed_member,
        households_at_or_above_monitoring_line,
        households_at_or_above_poverty_standard,
        households_with_open_warning,
        households_with_open_red_warning,
        households_with_open_yellow_warning,
        open_warnings,
        {{ as_of_date() }} as as_of_date
    from rolled_up
)

select * from final
