{#- Post-hook of int_risk_warning_states_walked: after a daily run has walked the
    changed streams again (delete+insert on household, rule, window and event number),
    delete the states whose event is no longer there (a withdrawn file, a re-run of a
    past as-of date, a stream that became shorter), so the table equals a full walk. Only
    the changed households' states can have lost their event (macros/incremental_by_household.sql);
    in a first or full build none can. -#}
{% macro delete_states_without_event() -%}
    delete from {{ this }} as walked
    where
        {{ changed_households_only('walked.household_id') }}
        and not exists (
            select 1
            from {{ ref('int_risk_events_unioned') }} as events
            where
                events.household_id = walked.household_id
                and events.rule_id = walked.rule_id
                and events.window_start = walked.window_start
                and events.event_seq = walked.event_seq
        )
{%- endmacro %}
