{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='household_id',
    on_schema_change='fail',
    indexes=[{'columns': ['household_id']}],
    pre_hook=[
        "{{ household_changes_prepare(
            shared=[ref('int_risk_rules_in_force')], upstream=[ref('int_risk_warning_states_walked')]) }}",
    ],
    post_hook=["{{ household_changes_record() }}", "{{ distribute_by_household() }}"]
) }}
-- Every transition of every warning: raised, escalated, confirmed, lifted, with
-- its date, the rule version, the evidence rows and, for home visits, who and what note.
-- Incremental by household (issue 10, macros/incremental_by_household.sql): a daily run
-- derives again only the households the lifecycle computed again since (its change feed;
-- a changed home visit is a changed input of int_risk_events_unioned, so its household comes
-- down the feed too), every household when the rules in force change.
with

states as (
    select * from {{ ref('int_risk_warning_states_walked') }}
    where {{ changed_households_only() }}
),

rules as (
    select * from {{ ref('int_risk_rules_in_force') }}
),

visits as (
    select * from {{ ref('stg_verifications__home_visits') }}
    where {{ changed_households_only() }}
),

final as (
    select
        states.warning_id || '-' || lpad(cast(states.event_seq as text), 4, '0') as warning_event_id,
        states.warning_id,
        states.household_id,
        states.rule_id,
        rules.risk_factor_code,
        rules.risk_factor,
        states.level_rule_version as rule_version,
        states.event_date,
        states.event_seq,
        states.transition,
        states.status as status_after,
        states.warning_level as level_after,
        states.accumulated as signal_value,
        case
            when states.event_kind = 'signal' then states.evidence_ids
            else array[states.visit_id]
        end as evidence_ids,
        states.evidence_model,
        states.visit_id,
        visits.visit_date,
        {{ person_key('states.verifier') }} as verifier_key,
        states.verification_note
    from states
    left join rules
        on
            states.rule_id = rules.rule_id
            and states.level_rule_version = rules.rule_version
    left join visits on states.visit_id = visits.visit_id
    where states.transition is not null
)

select * from final
