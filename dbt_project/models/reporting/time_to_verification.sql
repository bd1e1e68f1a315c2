-- Each warning's home visit against the target (seed service_targets): raised on,
-- visited on, days to the visit (or days waited so far), and whether it was or is
-- late. Overdue = still awaiting and late. Then, for confirmed warnings, assistance
-- against its target (from marts.fct_risk_warnings). One row per warning, as of the
-- as-of date.
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

final as (
    select
        warnings.warning_id,
        warnings.household_id,
        households.township_code,
        townships.division_name as township_name,
        households.village_code,
        villages.division_name as village_name,
        warnings.risk_factor_code,
        warnings.risk_factor,
        warnings.warning_level,
        {{ localized_name('factors') }} as risk_factor_name,
        {{ localized_name('levels') }} as warning_level_name,
        warnings.status,
        warnings.raised_on,
        warnings.verified_on as visited_on,
        warnings.days_to_verification as days_to_home_visit,
        warnings.days_awaiting_verification as days_awaiting_home_visit,
        warnings.home_visit_target_days as target_days,
        warnings.is_home_visit_late as is_late,
        coalesce(warnings.status = 'awaiting_verification' and warnings.is_home_visit_late, false) as is_overdue,
        warnings.assisted_on,
        warnings.days_to_assistance,
        warnings.assistance_target_days,
        warnings.is_assistance_late,
        warnings.as_of_date
    from warnings
    inner join households on warnings.household_id = households.household_id
    left join divisions as townships on households.township_code = townships.division_code
    left join divisions as villages on households.village_code = villages.division_code
    left join factors on warnings.risk_factor_code = factors.risk_factor_code
    left join levels on warnings.warning_level = levels.warning_level
)

select * from final
