-- Whether each household meets the conditions for its risk to be eliminated, as of
-- the as-of date (shared/DESIGN.md, warning lifecycle): annual per-capita net income
-- at or above the monitoring line on every as-of date of the last
-- months_of_stable_income months (seed rule_parameters, RISK_ELIMINATION: 6), at
-- least one assistance measure, and labour capacity: a household with no member able
-- to work is never eliminated. Open warnings are checked in mart_household_risk.
-- Income is known only for the as-of dates the pipeline built, kept as changes
-- (int_household_income_changes: a row on each date the figures changed): stable
-- income counts from the first change at or above the line after the last one below it.
with

households as (
    select * from {{ ref('int_households') }}
),

income as (
    select * from {{ ref('int_household_income_changes') }}
),

measures as (
    select * from {{ ref('int_household_assistance_measures') }}
),

flagged as (
    select
        household_id,
        valid_from as as_of_date,
        not coalesce(is_at_or_above_monitoring_line, false) as is_below_line
    from income
    where valid_from <= {{ as_of_date() }} and is_registered
),

last_below as (
    select
        household_id,
        max(as_of_date) filter (where is_below_line) as last_below_line_on
    from flagged
    group by household_id
),

stable as (
    select
        flagged.household_id,
        min(flagged.as_of_date) as stable_income_since
    from flagged
    inner join last_below on flagged.household_id = last_below.household_id
    where last_below.last_below_line_on is null or flagged.as_of_date > last_below.last_below_line_on
    group by flagged.household_id
),

assistance as (
    select
        household_id,
        count(*) as assistance_measures,
        min(measure_date) as first_assistance_on
    from measures
    group by household_id
),

final as (
    select
        households.household_id,
        households.members_with_labour_capacity > 0 as has_labour_capacity,
        coalesce(assistance.assistance_measures, 0) as assistance_measures,
        assistance.first_assistance_on,
        stable.stable_income_since,
        cast(
            extract(year from age({{ as_of_date() }}, stable.stable_income_since)) * 12
            + extract(month from age({{ as_of_date() }}, stable.stable_income_since))
            as integer
        ) as months_of_stable_income,
        coalesce(
            stable.stable_income_since
            <= {{ as_of_date() }} - {{ rule_parameter('RISK_ELIMINATION', 'months_of_stable_income') }}
            * interval '1 month',
            false
        ) as has_stable_income_for_required_months
    from households
    left join assistance on households.household_id = assistance.household_id
    left join stable on households.household_id = stable.household_id
)

select
    *,
    has_labour_capacity and assistance_measures > 0 and has_stable_income_for_required_months
        as meets_elimination_conditions
from final
