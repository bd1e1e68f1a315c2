{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='household_id',
    on_schema_change='fail',
    indexes=[{'columns': ['household_id']}],
    pre_hook=[
        "{{ household_changes_prepare(upstream=[ref('fct_risk_warning_events')]) }}",
    ],
    post_hook=["{{ household_changes_record() }}", "{{ distribute_by_household() }}"]
) }}
-- Each warning's status and level over time: one row per transition, valid from its
-- date until the next transition (valid_to exclusive, null while current). The
-- state of every warning on a past date D, as the pipeline knew it on D:
--   where valid_from <= D and (valid_to is null or D < valid_to).
-- Several transitions on one day: the last of the day holds from that day.
-- Incremental by household (issue 10, macros/incremental_by_household.sql): a daily run
-- derives again only the households fct_risk_warning_events computed again since (its
-- change feed).
with

events as (
    select * from {{ ref('fct_risk_warning_events') }}
    where {{ changed_households_only() }}
),

last_of_day as (
    select
        *,
        row_number() over (partition by warning_id, event_date order by event_seq desc) as recency_in_day
    from events
),

final as (
    select
        warning_event_id as status_spell_id,
        warning_id,
        household_id,
        rule_id,
        risk_factor,
        transition,
        status_after as status,
        status_after in ('awaiting_verification', 'confirmed') as is_open,
        level_after as warning_level,
        rule_version,
        event_date as valid_from,
        lead(event_date) over (partition by warning_id order by event_seq) as valid_to
    from last_of_day
    where recency_in_day = 1
)

select * from final
