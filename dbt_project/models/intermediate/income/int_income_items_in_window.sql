-- Every source row that contributes to a household's net income over the 12
-- months ending on the as-of date, with its component and amount (yuan):
--   wages                        each job x its monthly wage, pro rata of the days in the window;
--   public_welfare_job_pay       job spells x monthly pay, pro rata;
--   net_agricultural_income      planting + livestock net income of the latest year before the as-of year;
--   property_income              land transfer income of that year;
--   social_assistance            allowance and support payments made in the window;
--   subsidies                    subsidy payments made in the window.
-- Components follow the national statistics' definition of net income (wages, net
-- business income, property income, transfers); shared/DESIGN.md "Household income".
with

members as (
    select * from {{ ref('int_household_members') }}
),

jobs as (
    select * from {{ ref('int_employment_jobs') }}
),

welfare_jobs as (
    select * from {{ ref('stg_public_welfare_jobs__job_spells') }}
),

agriculture as (
    select * from {{ ref('stg_agriculture_income__household_years') }}
),

payments as (
    select * from {{ ref('stg_social_assistance__payments') }}
),

income_window as (
    select
        cast({{ as_of_date() }} - interval '12 months' + interval '1 day' as date) as window_start,
        {{ as_of_date() }} as window_end
),

window_days as (
    select
        window_start,
        window_end,
        window_end - window_start + 1 as window_length
    from income_window
),

paid_spells as (
    select
        person_key,
        'wages' as income_component,
        'int_employment_jobs' as source_model,
        latest_record_id as source_id,
        monthly_wage as monthly_amount,
        start_date,
        end_date
    from jobs
    where monthly_wage is not null
    union all
    select
        person_key,
        'public_welfare_job_pay' as income_component,
        'stg_public_welfare_jobs__job_spells' as source_model,
        job_id as source_id,
        monthly_pay as monthly_amount,
        start_date,
        end_date
    from welfare_jobs
),

spell_days as (
    select
        members.household_id,
        paid_spells.income_component,
        paid_spells.source_model,
        paid_spells.source_id,
        paid_spells.monthly_amount,
        least(coalesce(paid_spells.end_date, window_days.window_end), window_days.window_end)
        - greatest(paid_spells.start_date, window_days.window_start) + 1 as days_in_window,
        window_days.window_length
    from paid_spells
    inner join members on paid_spells.person_key = members.person_key
    cross join window_days
    where
        paid_spells.start_date <= window_days.window_end
        and coalesce(paid_spells.end_date, window_days.window_end) >= window_days.window_start
),

latest_agriculture_year as (
    select
        agriculture.household_id,
        max(agriculture.income_year) as income_year
    from agriculture
    cross join window_days
    where agriculture.income_year < extract(year from window_days.window_end)
    group by agriculture.household_id
),

agriculture_rows as (
    select agriculture.*
    from agriculture
    inner join latest_agriculture_year
        on
            agriculture.household_id = latest_agriculture_year.household_id
            and agriculture.income_year = latest_agriculture_year.income_year
),

items as (
    select
        household_id,
        income_component,
        round(monthly_amount * 12 * days_in_window / window_length, 2) as amount,
        source_model,
        source_id
    from spell_days
    union all
    select
        household_id,
        'net_agricultural_income' as income_component,
        coalesce(planting_net_income, 0) + coalesce(livestock_net_income, 0) as amount,
        'stg_agriculture_income__household_years' as source_model,
        household_id || '|' || income_year as source_id
    from agriculture_rows
    union all
    select
        household_id,
        'property_income' as income_component,
        coalesce(land_transfer_income, 0) as amount,
        'stg_agriculture_income__household_years' as source_model,
        household_id || '|' || income_year as source_id
    from agriculture_rows
    union all
    select
        payments.household_id,
        case when payments.programme = 'subsidy' then 'subsidies' else 'social_assistance' end as income_component,
        payments.amount,
        'stg_social_assistance__payments' as source_model,
        payments.payment_id as source_id
    from payments
    cross join window_days
    where payments.payment_date between window_days.window_start and window_days.window_end
),

final as (
    select
        items.household_id,
        items.income_component,
        cast(items.amount as numeric(14, 2)) as amount,
        items.source_model,
        items.source_id,
        window_days.window_start,
        window_days.window_end
    from items
    cross join window_days
)

select * from final
