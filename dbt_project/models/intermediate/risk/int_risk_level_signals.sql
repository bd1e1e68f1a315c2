-- Signals measured alone (not accumulated), one row per household, rule and event,
-- dated when the record was made known (first publication date): house safety
-- (C 1, D 2), unsafe drinking water (2), a compulsory-age dropout (1), a new grade
-- 1-2 disability certificate (1), a new enrolment in the minimum living allowance or
-- extreme-poverty support (1); and from their own models: household employment
-- (int_household_employment_signals), income as a multiple of the line
-- (int_household_income_signals), lack of labour (int_household_labour_signals).
-- The rules in seed risk_rules turn values into yellow or red. A new rule is a seed
-- row plus, where needed, one signal model joined here.
with

housing as (
    select * from {{ ref('stg_housing_water__assessments') }}
),

students as (
    select * from {{ ref('stg_education__student_records') }}
),

certificates as (
    select * from {{ ref('stg_disability__certificates') }}
),

payments as (
    select * from {{ ref('stg_social_assistance__payments') }}
),

members as (
    select * from {{ ref('int_household_members') }}
),

employment as (
    select * from {{ ref('int_household_employment_signals') }}
),

income as (
    select * from {{ ref('int_household_income_signals') }}
),

labour as (
    select * from {{ ref('int_household_labour_signals') }}
),

signals as (
    select
        household_id,
        'HOUSING_SAFETY' as rule_id,
        known_on as event_date,
        case house_safety_rating when 'D' then 2 when 'C' then 1 else 0 end as signal_value,
        array[household_id || '|' || assessed_on] as evidence_ids,
        'stg_housing_water__assessments' as evidence_model
    from housing
    union all
    select
        household_id,
        'DRINKING_WATER' as rule_id,
        known_on as event_date,
        case when has_safe_drinking_water then 0 else 2 end as signal_value,
        array[household_id || '|' || assessed_on] as evidence_ids,
        'stg_housing_water__assessments' as evidence_model
    from housing
    union all
    select
        members.household_id,
        'SCHOOL_DROPOUT' as rule_id,
        students.known_on as event_date,
        1 as signal_value,
        array[students.record_id] as evidence_ids,
        'stg_education__student_records' as evidence_model
    from students
    inner join members on students.person_key = members.person_key
    where students.school_status = 'dropped_out' and students.stage in ('primary', 'junior_secondary')
    union all
    select
        members.household_id,
        'DISABILITY_NEW' as rule_id,
        certificates.known_on as event_date,
        1 as signal_value,
        array[certificates.certificate_id] as evidence_ids,
        'stg_disability__certificates' as evidence_model
    from certificates
    inner join members on certificates.person_key = members.person_key
    where certificates.disability_grade <= 2 and certificates.issue_date > certificates.known_on - 365
    union all
    select
        household_id,
        'ASSISTANCE_ENROLMENT' as rule_id,
        min(known_on) as event_date,
        1 as signal_value,
        array[min(payment_id)] as evidence_ids,
        'stg_social_assistance__payments' as evidence_model
    from payments
    where
        programme in ('minimum_living_allowance', 'extreme_poverty_support')
        and enrolled_on > known_on - 60
    group by household_id, enrolled_on
    union all
    select
        household_id,
        'UNSTABLE_EMPLOYMENT' as rule_id,
        event_date,
        signal_value,
        evidence_ids,
        'stg_employment__records' as evidence_model
    from employment
    union all
    select
        household_id,
        'INCOME_BELOW_LINE' as rule_id,
        event_date,
        signal_value,
        evidence_ids,
        'int_household_income_daily' as evidence_model
    from income
    union all
    select
        household_id,
        'LACK_OF_LABOUR' as rule_id,
        event_date,
        signal_value,
        evidence_ids,
        'stg_household_register__extract_members' as evidence_model
    from labour
),

-- A dropout, a new certificate or a new enrolment is an event, not a lasting state:
-- its signal falls back to 0 the next day, so the household's next such record is a
-- new event that crosses the threshold again (the same record never comes twice).
event_resets as (
    select
        household_id,
        rule_id,
        event_date + 1 as event_date,
        0 as signal_value,
        evidence_ids,
        evidence_model
    from signals
    where
        rule_id in ('SCHOOL_DROPOUT', 'DISABILITY_NEW', 'ASSISTANCE_ENROLMENT')
        and event_date + 1 <= {{ as_of_date() }}
),

unioned as (
    select * from signals
    union all
    select * from event_resets
),

final as (
    select
        household_id,
        rule_id,
        event_date,
        cast(signal_value as numeric) as signal_value,
        evidence_ids,
        evidence_model
    from unioned
)

select * from final
