{{ config(post_hook=["{{ distribute_by_household() }}"]) }}
-- One row per warning with its current state as of the as-of date: when it was
-- raised, at what level, whether it awaits a home visit, was confirmed or lifted
-- (by a home visit, or cleared by a later signal for rules that clear automatically),
-- and the delays against the targets of seed service_targets: home visit (3 days
-- from the warning) and, for confirmed warnings, assistance (15 days from the
-- warning: the first assistance measure on or after the day it was raised).
with

events as (
    select * from {{ ref('fct_risk_warning_events') }}
),

ordered as (
    select
        *,
        row_number() over (partition by warning_id order by event_seq desc) as recency
    from events
),

summary as (
    select
        warning_id,
        min(event_date) filter (where transition = 'raised') as raised_on,
        min(visit_date) filter (where transition in ('confirmed', 'lifted')) as verified_on,
        max(event_date) filter (where transition in ('lifted', 'cleared')) as lifted_on,
        max(event_date) filter (where transition = 'cleared') as cleared_on,
        max(event_date) filter (where transition = 'confirmed') as confirmed_on,
        max(signal_value) filter (where transition in ('raised', 'escalated')) as signal_value,
        count(*) filter (where transition = 'escalated') as escalations
    from events
    group by warning_id
),

latest as (
    select * from ordered
    where recency = 1
),

latest_signal as (
    select
        warning_id,
        level_after,
        rule_version,
        evidence_ids,
        row_number() over (partition by warning_id order by event_seq desc) as recency
    from events
    where transition in ('raised', 'escalated')
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

measures as (
    select * from {{ ref('int_household_assistance_measures') }}
),

assistance_after_warning as (
    select
        summary.warning_id,
        measures.measure_date,
        measures.measure_id,
        row_number() over (
            partition by summary.warning_id order by measures.measure_date, measures.measure_id
        ) as measure_rank
    from summary
    inner join latest on summary.warning_id = latest.warning_id
    inner join measures
        on
            latest.household_id = measures.household_id
            and summary.raised_on <= measures.measure_date
),

first_assistance as (
    select
        warning_id,
        measure_date as assisted_on,
        measure_id as assistance_measure_id
    from assistance_after_warning
    where measure_rank = 1
),

latest_visit as (
    select
        warning_id,
        visit_id,
        verifier_key,
        verification_note,
        row_number() over (partition by warning_id order by event_seq desc) as recency
    from events
    where transition in ('confirmed', 'lifted')
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
        -- the clock stops at the visit, or when a later signal cleared the warning first
        coalesce(summary.verified_on, summary.lifted_on, {{ as_of_date() }}) - summary.raised_on
        > home_visit_target.days as is_home_visit_late,
        case
            when summary.cleared_on is not null then 'signal_cleared'
            when summary.lifted_on is not null then 'home_visit'
        end as lifted_by,
        first_assistance.assisted_on,
        first_assistance.assistance_measure_id,
        first_assistance.assisted_on - summary.raised_on as days_to_assistance,
        assistance_target.days as assistance_target_days,
        case
            when summary.confirmed_on is not null
                then
                    coalesce(first_assistance.assisted_on, {{ as_of_date() }}) - summary.raised_on
                    > assistance_target.days
        end as is_assistance_late,
        summary.escalations,
        summary.signal_value,
        latest_signal.evidence_ids,
        latest_visit.visit_id as verification_visit_id,
        latest_visit.verifier_key,
        latest_visit.verification_note,
        {{ as_of_date() }} as as_of_date
    from latest
    inner join summary on latest.warning_id = summary.warning_id
    inner join latest_signal
        on
            latest.warning_id = latest_signal.warning_id
            and latest_signal.recency = 1
    left join latest_visit
        on
            latest.warning_id = latest_visit.warning_id
            and latest_visit.recency = 1
    left join first_assistance on latest.warning_id = first_assistance.warning_id
    cross join home_visit_target
    cross join assistance_target
)

select * from final
