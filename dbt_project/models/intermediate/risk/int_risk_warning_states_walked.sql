{{ config(materialized='table') }}
-- noqa: disable=ST05
-- The warning lifecycle, walked event by event for each household, rule and
-- window (a recursive CTE: each state depends on the one before).
--
-- State: the current warning (warning_seq), its status (none,
-- awaiting_verification, confirmed, lifted), its level (0 none, 1 yellow, 2 red),
-- the signal (accumulated since the window opened or the last lift for rules that
-- accumulate, e.g. illness: out-of-pocket yuan in the calendar year; else the value
-- of the latest signal: a level, or income as a multiple of the line) with the
-- evidence rows behind it, and the level the latest signal stood at.
-- A signal's level: 2 (red) when strictly beyond the red threshold, 1 (yellow) when
-- strictly beyond the yellow one; beyond = above, or below for direction 'below'.
-- Transitions (shared/DESIGN.md, "Warning lifecycle"):
--   raised     a signal crosses a threshold while no warning is open: its level is
--              above none and above the level of the stream's previous signal, so
--              the same facts on the next day never raise again (a lift resets the
--              accumulation and the previous level of accumulating rules);
--   escalated  a signal takes an open warning from yellow to red;
--   confirmed  a home visit finds the risk real (assistance follows);
--   lifted     a home visit finds no risk;
--   cleared    a signal back within the thresholds lifts an open warning of a rule
--              that clears automatically (S3: re-employment), status lifted.
-- A visit naming a warning id answers only that warning.
with recursive

events as (
    select * from {{ ref('int_risk_events_unioned') }}
),

walk as (
    select
        household_id,
        rule_id,
        window_start,
        cast(0 as bigint) as event_seq,
        cast(null as date) as event_date,
        cast(null as text) as event_kind,
        cast(null as text) as evidence_model,
        cast(null as integer) as rule_version,
        cast(null as text) as visit_id,
        cast(null as text) as verifier,
        cast(null as text) as verification_note,
        0 as warning_seq,
        cast('none' as text) as status,
        0 as level_rank,
        cast(0 as numeric) as accumulated,
        cast(array[] as text[]) as evidence_ids,
        cast(null as text) as transition,
        cast(null as integer) as level_rule_version,
        0 as last_signal_level
    from events
    where event_seq = 1

    union all

    select
        walk.household_id,
        walk.rule_id,
        walk.window_start,
        events.event_seq,
        events.event_date,
        events.event_kind,
        events.evidence_model,
        events.rule_version,
        events.visit_id,
        events.verifier,
        events.verification_note,
        walk.warning_seq + case when moved.transition = 'raised' then 1 else 0 end as warning_seq,
        case moved.transition
            when 'raised' then 'awaiting_verification'
            when 'confirmed' then 'confirmed'
            when 'lifted' then 'lifted'
            when 'cleared' then 'lifted'
            else walk.status
        end as status,
        case
            when moved.transition in ('raised', 'escalated') then measured.new_level_rank
            when moved.transition in ('lifted', 'cleared') then 0
            else walk.level_rank
        end as level_rank,
        case
            when moved.transition = 'lifted' and events.accumulates then 0
            when moved.transition = 'lifted' then walk.accumulated
            else measured.accumulated
        end as accumulated,
        case
            when moved.transition = 'lifted' then cast(array[] as text[]) else measured.evidence_ids
        end as evidence_ids,
        moved.transition,
        case
            when moved.transition in ('raised', 'escalated', 'cleared') then events.rule_version
            else walk.level_rule_version
        end as level_rule_version,
        case
            when events.event_kind = 'signal' then measured.new_level_rank
            when moved.transition = 'lifted' and events.accumulates then 0
            else walk.last_signal_level
        end as last_signal_level
    from walk
    inner join events
        on
            walk.household_id = events.household_id
            and walk.rule_id = events.rule_id
            and walk.window_start = events.window_start
            and walk.event_seq + 1 = events.event_seq
    cross join
        lateral (
            select
                case
                    when events.event_kind <> 'signal' then walk.accumulated
                    when events.accumulates then walk.accumulated + events.signal_amount
                    else events.signal_amount
                end as accumulated,
                case
                    when events.event_kind <> 'signal' then walk.evidence_ids
                    when events.accumulates then walk.evidence_ids || events.evidence_ids
                    else events.evidence_ids
                end as evidence_ids,
                case
                    when events.event_kind <> 'signal' then 0
                    when events.direction = 'below' and events.signal_amount < events.red_threshold then 2
                    when events.direction = 'below' and events.signal_amount < events.yellow_threshold then 1
                    when events.direction = 'below' then 0
                    when
                        case when events.accumulates then walk.accumulated else 0 end + events.signal_amount
                        > events.red_threshold
                        then 2
                    when
                        case when events.accumulates then walk.accumulated else 0 end + events.signal_amount
                        > events.yellow_threshold
                        then 1
                    else 0
                end as new_level_rank
        ) as measured
    cross join lateral (
        select
            case
                when
                    events.event_kind = 'signal'
                    and walk.status in ('none', 'lifted')
                    and measured.new_level_rank > 0
                    and measured.new_level_rank > walk.last_signal_level
                    then 'raised'
                when
                    events.event_kind = 'signal'
                    and walk.status in ('awaiting_verification', 'confirmed')
                    and measured.new_level_rank > walk.level_rank
                    then 'escalated'
                when
                    events.event_kind = 'signal'
                    and events.clears_automatically
                    and walk.status in ('awaiting_verification', 'confirmed')
                    and measured.new_level_rank = 0
                    then 'cleared'
                when
                    events.event_kind = 'verification'
                    and walk.status in ('awaiting_verification', 'confirmed')
                    and (
                        events.warning_id_reference is null
                        or events.warning_id_reference
                        = {{ warning_id('walk.household_id', 'walk.rule_id', 'walk.window_start', 'walk.warning_seq') }}
                    )
                    then
                        case
                            when events.verification_result = 'no_risk' then 'lifted'
                            when walk.status = 'awaiting_verification' then 'confirmed'
                        end
            end as transition
    ) as moved
),

final as (
    select
        walk.*,
        case
            when walk.warning_seq > 0
                then {{ warning_id('walk.household_id', 'walk.rule_id', 'walk.window_start', 'walk.warning_seq') }}
        end as warning_id,
        case walk.level_rank when 2 then 'red' when 1 then 'yellow' end as warning_level
    from walk
    where walk.event_seq > 0
)

select * from final
