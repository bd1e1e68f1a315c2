-- Every event that can move a warning, in one stream per household, rule and
-- window: signals (new out-of-pocket spending, with the rule version in force on
-- that day) and home verifications (which answer the household's open warning).
with

rules as (
    select * from {{ ref('risk_rules') }}
),

medical as (
    select * from {{ ref('int_medical_out_of_pocket_summed_to_household_day') }}
),

visits as (
    select * from {{ ref('stg_verifications__home_visits') }}
),

illness_signals as (
    select
        medical.household_id,
        rules.rule_id,
        rules.rule_version,
        rules.risk_factor_code,
        rules.risk_factor,
        rules.yellow_threshold,
        rules.red_threshold,
        medical.window_start,
        medical.known_on as event_date,
        0 as event_order,
        'signal' as event_kind,
        medical.out_of_pocket_added as signal_amount,
        medical.settlement_ids as evidence_ids,
        cast(null as text) as visit_id,
        cast(null as text) as warning_id_reference,
        cast(null as text) as verification_result,
        cast(null as text) as verifier,
        cast(null as text) as verification_note
    from medical
    inner join rules
        on
            rules.rule_id = 'ILLNESS_OOP'
            and medical.known_on >= rules.effective_from
            and (rules.effective_to is null or medical.known_on <= rules.effective_to)
),

streams as (
    select distinct
        household_id,
        rule_id,
        risk_factor_code,
        risk_factor,
        window_start
    from illness_signals
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
        streams.window_start,
        visits.visit_date as event_date,
        1 as event_order,
        'verification' as event_kind,
        cast(null as numeric(14, 2)) as signal_amount,
        array[visits.visit_id] as evidence_ids,
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
    select * from illness_signals
    union all
    select * from verification_events
),

final as (
    select
        *,
        row_number() over (
            partition by household_id, rule_id, window_start
            order by event_date, event_order, visit_id
        ) as event_seq
    from unioned
)

select * from final
