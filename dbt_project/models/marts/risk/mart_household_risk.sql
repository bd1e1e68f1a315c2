{{ config(post_hook=["{{ distribute_by_household() }}"]) }}
-- One row per registered household as of the as-of date: its out-of-pocket
-- medical spending in the current window, its open warnings, and whether its risk
-- may be eliminated (shared/DESIGN.md: 6 months of stable income above the line, at
-- least one assistance measure, labour capacity, and no open warning).
with

households as (
    select * from {{ ref('int_households') }}
),

medical as (
    select * from {{ ref('int_medical_out_of_pocket_summed_to_household_day') }}
),

warnings as (
    select * from {{ ref('fct_risk_warnings') }}
),

elimination as (
    select * from {{ ref('int_household_risk_elimination') }}
),

spending as (
    select
        household_id,
        sum(out_of_pocket_added) as out_of_pocket_in_window,
        sum(settlements_added) as settlements_in_window
    from medical
    where window_start = cast(date_trunc('year', {{ as_of_date() }}) as date)
    group by household_id
),

open_warnings as (
    select
        household_id,
        count(*) as open_warnings,
        max(case warning_level when 'red' then 2 when 'yellow' then 1 else 0 end) as highest_level_rank,
        max(case warning_level when 'red' then 2 when 'yellow' then 1 else 0 end)
        filter (where risk_factor = 'illness') as illness_level_rank,
        count(*) filter (where status = 'awaiting_verification') as awaiting_verification
    from warnings
    where is_open
    group by household_id
),

final as (
    select
        households.household_id,
        households.county_code,
        households.township_code,
        households.village_code,
        households.household_category,
        households.member_count,
        cast(date_trunc('year', {{ as_of_date() }}) as date) as window_start,
        coalesce(spending.out_of_pocket_in_window, 0) as out_of_pocket_in_window,
        coalesce(spending.settlements_in_window, 0) as settlements_in_window,
        coalesce(open_warnings.open_warnings, 0) as open_warnings,
        coalesce(open_warnings.awaiting_verification, 0) as warnings_awaiting_verification,
        case open_warnings.highest_level_rank when 2 then 'red' when 1 then 'yellow' end as highest_open_level,
        case open_warnings.illness_level_rank when 2 then 'red' when 1 then 'yellow' end as illness_warning_level,
        elimination.has_labour_capacity,
        elimination.assistance_measures,
        elimination.stable_income_since,
        elimination.months_of_stable_income,
        elimination.meets_elimination_conditions and coalesce(open_warnings.open_warnings, 0) = 0
            as is_risk_eliminable,
        case
            when not elimination.has_labour_capacity then 'no_labour_capacity'
            when coalesce(open_warnings.open_warnings, 0) > 0 then 'open_warning'
            when not elimination.has_stable_income_for_required_months then 'income_not_stable_long_enough'
            when elimination.assistance_measures = 0 then 'no_assistance_measure'
        end as elimination_blocked_by,
        {{ as_of_date() }} as as_of_date
    from households
    left join spending on households.household_id = spending.household_id
    left join open_warnings on households.household_id = open_warnings.household_id
    left join elimination on households.household_id = elimination.household_id
)

select * from final
