{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['household_id', 'rule_id', 'window_start', 'event_seq'],
    on_schema_change='fail',
    indexes=[{'columns': ['household_id', 'rule_id', 'window_start', 'event_seq'], 'unique': True}],
    pre_hook=[
        "{{ household_changes_prepare(upstream=[ref('int_risk_events_unioned')], delete_changed=false) }}",
    ],
    post_hook=[
        "{{ delete_states_without_event() }}",
        "{{ household_changes_record() }}",
        "{{ distribute_by_household() }}",
    ]
) }}
-- noqa: disable=ST05
-- The warning lifecycle, walked event by event for each household, rule and
-- window (a recursive CTE: each state depends on the one before).
--
-- Carried forward (issue 10): a daily run does not walk from the beginning. Each
-- event's content (date, kind, amount, evidence, rule version and thresholds, visit)
-- is fingerprinted; a stream (household, rule, window) whose events all still match
-- what the table walked keeps its states untouched. A stream with a new or changed
-- event is walked again from its first differing event, starting from the state the
-- table holds just before it (the state at the end of the previous as-of date for the
-- day's new events). Late or corrected records, a withdrawn file, a re-run of a past
-- as-of date and a changed threshold (seed or what-if) all show up as differing
-- events at the date they are dated, so the result equals a full walk
-- (`dbt build --full-refresh`); states of events no longer there are deleted after
-- the insert (macro delete_states_without_event).
-- Only the households int_risk_events_unioned computed again since this model's last
-- build are compared (its change feed, macros/incremental_by_household.sql): a day's
-- comparison reads the day's changed households, not every event ever recorded.
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
--              that clears automatically (S3: re-employment), status lifted;
--   corrected  a correction of an earlier record lowers an accumulated signal (a
--              negative signal amount: int_medical_out_of_pocket_summed_to_household_day)
--              back within the thresholds while a warning is open: the warning is lifted
--              as of the correction's date (issue 10: a correction counts from its own
--              date; the states before it are unchanged), status lifted, the lowered sum
--              kept (a later signal crossing the threshold raises a new warning). A
--              correction that leaves the sum beyond a threshold changes no level.
-- A visit naming a warning id answers only that warning.
with recursive

events as (
    select
        *,
        md5(
            cast(
                row(
                    event_date, event_kind, rule_version, signal_amount, evidence_ids, evidence_model, visit_id,
                    warning_id_reference, verification_result, verifier, verification_note, yellow_threshold,
                    red_threshold, accumulates, direction, clears_automatically
                ) as text
            )
        ) as event_fingerprint
    from {{ ref('int_risk_events_unioned') }}
    where {{ changed_households_only() }}
),

-- The first event of each stream to walk: every stream from its first event on a full
-- build; on a daily run, only the streams whose events differ from those walked before,
-- from the first difference (a new event, a changed one, or one no longer there).
{% if is_incremental() %}
    walked_before as (
        select * from {{ this }}
        where {{ changed_households_only() }}
    ),

    compared as (
        select
            coalesce(events.household_id, walked_before.household_id) as household_id,
            coalesce(events.rule_id, walked_before.rule_id) as rule_id,
            coalesce(events.window_start, walked_before.window_start) as window_start,
            coalesce(events.event_seq, walked_before.event_seq) as event_seq
        from events
        full outer join walked_before
            on
                events.household_id = walked_before.household_id
                and events.rule_id = walked_before.rule_id
                and events.window_start = walked_before.window_start
                and events.event_seq = walked_before.event_seq
        where events.event_fingerprint is distinct from walked_before.event_fingerprint
    ),

    differences as (
        select
            household_id,
            rule_id,
            window_start,
            min(event_seq) as walk_from_seq
        from compared
        group by household_id, rule_id, window_start
    ),
{% else %}
    differences as (
        select
            household_id,
            rule_id,
            window_start,
            event_seq as walk_from_seq
        from events
        where event_seq = 1
    ),
{% endif %}

walk as (
    -- a stream walked from its first event starts from no warning
    select
        household_id,
        rule_id,
        window_start,
        walk_from_seq,
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
        0 as last_signal_level,
        cast(null as text) as event_fingerprint
    from differences
    where walk_from_seq = 1
    {% if is_incremental() %}
        union all

        -- a stream walked again from a later event starts from the state before it
        select
            differences.household_id,
            differences.rule_id,
            differences.window_start,
            differences.walk_from_seq,
            walked_before.event_seq,
            walked_before.event_date,
            walked_before.event_kind,
            walked_before.evidence_model,
            walked_before.rule_version,
            walked_before.visit_id,
            walked_before.verifier,
            walked_before.verification_note,
            walked_before.warning_seq,
            walked_before.status,
            walked_before.level_rank,
            walked_before.accumulated,
            walked_before.evidence_ids,
            walked_before.transition,
            walked_before.level_rule_version,
            walked_before.last_signal_level,
            walked_before.event_fingerprint
        from differences
        inner join walked_before
            on
                differences.household_id = walked_before.household_id
                and differences.rule_id = walked_before.rule_id
                and differences.window_start = walked_before.window_start
                and differences.walk_from_seq - 1 = walked_before.event_seq
    {% endif %}

    union all

    select
        walk.household_id,
        walk.rule_id,
        walk.window_start,
        walk.walk_from_seq,
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
            when 'corrected' then 'lifted'
            else walk.status
        end as status,
        case
            when moved.transition in ('raised', 'escalated') then measured.new_level_rank
            when moved.transition in ('lifted', 'cleared', 'corrected') then 0
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
            when moved.transition in ('raised', 'escalated', 'cleared', 'corrected') then events.rule_version
            else walk.level_rule_version
        end as level_rule_version,
        case
            when events.event_kind = 'signal' then measured.new_level_rank
            when moved.transition = 'lifted' and events.accumulates then 0
            else walk.last_signal_level
        end as last_signal_level,
        events.event_fingerprint
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
                    and events.accumulates
                    and events.signal_amount < 0
                    and walk.status in ('awaiting_verification', 'confirmed')
                    and measured.new_level_rank = 0
                    then 'corrected'
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
        walk.household_id,
        walk.rule_id,
        walk.window_start,
        walk.event_seq,
        walk.event_date,
        walk.event_kind,
        walk.evidence_model,
        walk.rule_version,
        walk.visit_id,
        walk.verifier,
        walk.verification_note,
        walk.warning_seq,
        walk.status,
        walk.level_rank,
        walk.accumulated,
        walk.evidence_ids,
        walk.transition,
        walk.level_rule_version,
        walk.last_signal_level,
        walk.event_fingerprint,
        case
            when walk.warning_seq > 0
                then {{ warning_id('walk.household_id', 'walk.rule_id', 'walk.window_start', 'walk.warning_seq') }}
        end as warning_id,
        case walk.level_rank when 2 then 'red' when 1 then 'yellow' end as warning_level
    from walk
    where walk.event_seq >= walk.walk_from_seq
)

select * from final
