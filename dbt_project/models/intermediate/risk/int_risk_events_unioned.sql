{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='household_id',
    on_schema_change='fail',
    indexes=[{'columns': ['household_id', 'rule_id', 'window_start', 'event_seq'], 'unique': True}],
    pre_hook=[
        "{{ household_changes_prepare(
            [ref('int_medical_out_of_pocket_summed_to_household_day'), ref('stg_verifications__home_visits'),
             ref('int_risk_level_signals')],
            [ref('int_risk_rules_in_force')]) }}",
    ],
    post_hook=["{{ household_changes_record() }}", "{{ distribute_by_household() }}"]
) }}
-- Every event that can move a warning, in one stream per household, rule and
-- window: signals (new out-of-pocket spending, or a value from int_risk_level_signals:
-- a level, or income as a multiple of the line), with the rule version in force on
-- that day, and home verifications (which answer the household's open warnings).
-- Every event is dated when the pipeline could know it: a visit reported after the
-- day it took place moves the warning on the date its batch was published (so the
-- history of a past date never changes afterwards); the visit date itself is kept
-- in fct_risk_warning_events for the delay measures.
-- Incremental by household (issue 10, macros/incremental_by_household.sql): a daily run
-- computes again only the households whose signals, settlement sums or home visits
-- changed (every household when the rules in force change); the unique index leads with
-- household_id, which the delete+insert and the lifecycle's comparison use.
with

rules as (
    select * from {{ ref('int_risk_rules_in_force') }}
),

medical as (
    select * from {{ ref('int_medical_out_of_pocket_summed_to_household_day') }}
    where {{ changed_households_only() }}
),

visits as (
    select * from {{ ref('stg_verifications__home_visits') }}
    where {{ changed_households_only() }}
),

level_signals as (
    select * from {{ ref('int_risk_level_signals') }}
    where {{ changed_households_only() }}
),

signals as (
    select
        household_id,
        'ILLNESS_OOP' as rule_id,
        window_start,
        known_on as event_date,
        cast(out_of_pocket_added as numeric) as signal_amount,
        settlement_ids as evidence_ids,
        'stg_medical_settlements__settlements' as evidence_model
    from medical
    union all
    select
        household_id,
        rule_id,
        date '1900-01-01' as window_start,
        event_date,
        cast(signal_value as numeric) as signal_amount,
        evidence_ids,
        evidence_model
    from level_signals
),

rule_signals as (
    select
        signals.household_id,
        rules.rule_id,
        rules.rule_version,
        rules.risk_factor_code,
        rules.risk_factor,
        rules.yellow_threshold,
        rules.red_threshold,
        rules.accumulation_window <> 'none' as accumulates,
        rules.direction,
        rules.clears_automatically,
        signals.window_start,
        signals.event_date,
        0 as event_order,
        'signal' as event_kind,
        signals.signal_amount,
        signals.evidence_ids,
        signals.evidence_model,
        cast(null as text) as visit_id,
        cast(null as text) as warning_id_reference,
        cast(null as text) as verification_result,
        cast(null as text) as verifier,
        cast(null as text) as verification_note
    from signals
    inner join rules
        on
            signals.rule_id = rules.rule_id
            and signals.event_date >= rules.effective_from
            and (rules.effective_to is null or signals.event_date <= rules.effective_to)
),

streams as (
    select
        household_id,
        rule_id,
        risk_factor_code,
        risk_factor,
        window_start,
        bool_or(accumulates) as accumulates
    from rule_signals
    group by household_id, rule_id, risk_factor_code, risk_factor, window_start
),

verification_events as (
    select
        streams.household_id,
        streams.rule_id,
        cast(null as integer) as rule_version,
        streams.risk_factor_code,
        streams.risk_factor,
        cast(null as numeric(14, 2)) as yellow_threshold,
        cast(null as numeric(14, 2)) as red_threshold,
        streams.accumulates,
        cast(null as text) as direction,
        cast(null as boolean) as clears_automatically,
        streams.window_start,
        greatest(visits.visit_date, visits.known_on) as event_date,
        1 as event_order,
        'verification' as event_kind,
        cast(null as numeric) as signal_amount,
        array[visits.visit_id] as evidence_ids,
        'stg_verifications__home_visits' as evidence_model,
        visits.visit_id,
        visits.warning_id as warning_id_reference,
        visits.verification_result,
        visits.verifier,
        visits.verification_note
    from visits
    inner join streams
        on
            visits.household_id = streams.household_id
            and visits.visit_date >= streams.window_start
),

unioned as (
    select * from rule_signals
    union all
    select * from verification_events
),

final as (
    select
        *,
        row_number() over (
            partition by household_id, rule_id, window_start
            order by event_date, event_order, visit_id, signal_amount, cast(evidence_ids as text)
        ) as event_seq
    from unioned
)

select * from final
