{{ config(post_hook=["{{ distribute_by_household() }}"]) }}
-- One row per warning with its current state as of the as-of date: when it was
-- raised, at what level, whether it awaits a home visit, was confirmed or lifted
-- (by a home visit, cleared by a later signal for rules that clear automatically, or by a
-- correction of the records that raised it, as of the correction's date: issue 10),
-- and the delays against the targets of seed service_targets: home visit (3 days
-- from the warning) and, for confirmed warnings, assistance (15 days from the
-- confirmation, as the officials' work lists set it due: the first assistance measure on or
-- after the day the warning was raised; one given by the day of the confirmation takes 0 days).
-- Planned for scale (issue 10): each warning's latest transition, latest signal and latest
-- visit are taken with DISTINCT ON (warning_id), which PostgreSQL estimates from the
-- statistics of warning_id (one row per warning), and joined on warning_id alone. Neither
-- row_number() = 1 filters (estimated at 0.5 % of their input) nor joining back on
-- (warning_id, max event_seq) (estimated at 1 row of 37,471 at 1,000,000 households: nested
-- loops, 218 s) let the planner see one row per warning. The import CTEs are not
-- materialized, so the planner sees the tables' statistics.
with

events as not materialized (
    select * from {{ ref('fct_risk_warning_events') }}
),

measures as not materialized (
    select * from {{ ref('int_household_assistance_measures') }}
),

summary as (
    select
        warning_id,
        min(household_id) as household_id,
        min(event_date) filter (where transition = 'raised') as raised_on,
        min(visit_date) filter (where transition in ('confirmed', 'lifted')) as verified_on,
        max(event_date) filter (where transition in ('lifted', 'cleared', 'corrected')) as lifted_on,
        max(event_date) filter (where transition = 'cleared') as cleared_on,
        max(event_date) filter (where transition = 'corrected') as corrected_on,
        max(event_date) filter (where transition = 'confirmed') as confirmed_on,
        max(signal_value) filter (where transition in ('raised', 'escalated')) as signal_value,
        count(*) filter (where transition = 'escalated') as escalations
    from events
    group by warning_id
),

latest as (
    select distinct on (warning_id) *
    from events
    order by warning_id asc, event_seq desc
),

latest_signal as (
    select distinct on (warning_id) *
    from events
    where transition in ('raised', 'escalated')
    order by warning_id asc, event_seq desc
),

latest_visit as (
    select distinct on (warning_id) *
    from events
    where transition in ('confirmed', 'lifted')
    order by warning_id asc, event_seq desc
),

home_visit_target as (
    select days
    from {{ ref('service_targets') }}
    where target_id = 'home_visit'
),

assistance_target as (
    select days
    from {{ ref('service_targets') }}
    where target_id = 'assistance'
),

-- the first assistance measure on or after the day the warning was raised
first_assistance as (
    select distinct on (summary.warning_id)
        summary.warning_id,
        measures.measure_date as assisted_on,
        measures.measure_id as assistance_measure_id
    from summary
    inner join measures
        on
            summary.household_id = measures.household_id
            and summary.raised_on <= measures.measure_date
    order by summary.warning_id asc, measures.measure_date asc, measures.measure_id asc
),

final as (
    select
        latest.warning_id,
        latest.household_id,
        latest.rule_id,
        latest_signal.rule_version,
        latest.risk_factor_code,
        latest.risk_factor,
        latest_signal.level_after as warning_level,
        latest.status_after as status,
        latest.status_after in ('awaiting_verification', 'confirmed') as is_open,
        summary.raised_on,
        summary.verified_on,
        summary.confirmed_on,
        summary.lifted_on,
        summary.verified_on - summary.raised_on as days_to_verification,
        case
            when summary.verified_on is null and summary.lifted_on is null then {{ as_of_date() }} - summary.raised_on
        end as days_awaiting_verification,
        home_visit_target.days as home_visit_target_days,
        -- the clock stops at the visit, or when a later signal or a correction lifted the warning first
        coalesce(summary.verified_on, summary.lifted_on, {{ as_of_date() }}) - summary.raised_on
        > home_visit_target.days as is_home_visit_late,
        case
            when summary.cleared_on is not null then 'signal_cleared'
            when summary.corrected_on is not null then 'correction'
            when summary.lifted_on is not null then 'home_visit'
        end as lifted_by,
        first_assistance.assisted_on,
        first_assistance.assistance_measure_id,
        -- greatest() skips nulls: only where both dates exist
        case
            when first_assistance.assisted_on is not null and summary.confirmed_on is not null
                then greatest(first_assistance.assisted_on - summary.confirmed_on, 0)
        end as days_to_assistance,
        assistance_target.days as assistance_target_days,
        case
            when summary.confirmed_on is not null
                then
                    coalesce(first_assistance.assisted_on, {{ as_of_date() }}) - summary.confirmed_on
                    > assistance_target.days
        end as is_assistance_late,
        summary.escalations,
        summary.signal_value,
        latest_signal.evidence_ids,
        latest_visit.visit_id as verification_visit_id,
        latest_visit.verifier_key,
        latest_visit.verification_note,
        {{ as_of_date() }} as as_of_date
    from summary
    inner join latest on summary.warning_id = latest.warning_id
    inner join latest_signal on summary.warning_id = latest_signal.warning_id
    left join latest_visit on summary.warning_id = latest_visit.warning_id
    left join first_assistance on summary.warning_id = first_assistance.warning_id
    cross join home_visit_target
    cross join assistance_target
)

select * from final
