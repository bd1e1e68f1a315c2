-- "Trouble data": contradictions between departments as of the as-of date, one row
-- per contradiction, for follow-up by the county office. Kinds:
--   employed_but_unable_to_work  the employment bureau has the person employed on the
--                                as-of date; the register says no labour capacity;
--   claims_after_death           the register records the person as deceased, and a
--                                hospital settlement, a job or a public-welfare job
--                                of theirs is dated after the death;
--   enrolled_in_two_schools      education has the person enrolled in two schools;
--   household_in_two_villages    the register places one household's members in two
--                                villages.
-- No resident IDs or names: persons are given by their salted key.
with

members as (
    select * from {{ ref('stg_household_register__members') }}
),

living as (
    select * from {{ ref('int_household_members') }}
    where is_living
),

households as (
    select * from {{ ref('int_households') }}
),

spells as (
    select * from {{ ref('int_person_employment_spells') }}
),

jobs as (
    select * from {{ ref('int_employment_jobs') }}
),

settlements as (
    select * from {{ ref('stg_medical_settlements__settlements') }}
),

welfare_jobs as (
    select * from {{ ref('stg_public_welfare_jobs__job_spells') }}
),

students as (
    select * from {{ ref('stg_education__student_records') }}
),

employed_unable as (
    select
        'employed_but_unable_to_work' as discrepancy_kind,
        living.household_id,
        living.person_key,
        'employment, household_register' as departments,
        'employed at ' || spells.employer || ' since ' || spells.valid_from
        || '; registered with no labour capacity' as detail,
        string_to_array(spells.evidence_record_ids, '; ') as evidence_ids
    from living
    inner join spells
        on
            living.person_key = spells.person_key
            and spells.is_employed
            and {{ as_of_date() }} between spells.valid_from and coalesce(spells.valid_to, 'infinity')
    where living.labour_capacity = 'none'
),

deceased as (
    select * from members
    where member_status = 'deceased'
),

after_death as (
    select
        deceased.household_id,
        deceased.person_key,
        'medical_settlements' as department,
        'hospital settlement ' || settlements.settlement_id || ' admitted ' || settlements.admission_date as detail,
        settlements.settlement_id as evidence_id
    from deceased
    inner join settlements
        on
            deceased.person_key = settlements.person_key
            and deceased.status_changed_on < settlements.admission_date
    union all
    select
        deceased.household_id,
        deceased.person_key,
        'employment' as department,
        'job at ' || jobs.employer || ' from ' || jobs.start_date as detail,
        jobs.latest_record_id as evidence_id
    from deceased
    inner join jobs
        on
            deceased.person_key = jobs.person_key
            and deceased.status_changed_on < coalesce(jobs.end_date, {{ as_of_date() }})
    union all
    select
        deceased.household_id,
        deceased.person_key,
        'public_welfare_jobs' as department,
        'public-welfare post ' || welfare_jobs.post || ' from ' || welfare_jobs.start_date as detail,
        welfare_jobs.job_id as evidence_id
    from deceased
    inner join welfare_jobs
        on
            deceased.person_key = welfare_jobs.person_key
            and deceased.status_changed_on < coalesce(welfare_jobs.end_date, {{ as_of_date() }})
),

claims_after_death as (
    select
        'claims_after_death' as discrepancy_kind,
        after_death.household_id,
        after_death.person_key,
        'household_register, ' || string_agg(distinct after_death.department, ', ') as departments,
        'deceased on ' || min(deceased.status_changed_on) || '; later: '
        || string_agg(after_death.detail, '; ' order by after_death.evidence_id) as detail,
        array_agg(after_death.evidence_id order by after_death.evidence_id) as evidence_ids
    from after_death
    inner join deceased on after_death.person_key = deceased.person_key
    group by after_death.household_id, after_death.person_key
),

enrolments as (
    select
        person_key,
        school,
        school_status,
        record_id,
        row_number() over (partition by person_key, school order by record_date desc, record_id desc) as recency
    from students
),

two_schools as (
    select
        'enrolled_in_two_schools' as discrepancy_kind,
        living.household_id,
        enrolments.person_key,
        'education' as departments,
        'enrolled in ' || string_agg(enrolments.school, ' and ' order by enrolments.school) as detail,
        array_agg(enrolments.record_id order by enrolments.record_id) as evidence_ids
    from enrolments
    left join living on enrolments.person_key = living.person_key
    where enrolments.recency = 1 and enrolments.school_status = 'enrolled'
    group by living.household_id, enrolments.person_key
    having count(*) > 1
),

two_villages as (
    select
        'household_in_two_villages' as discrepancy_kind,
        households.household_id,
        cast(null as text) as person_key,
        'household_register' as departments,
        'members registered in villages ' || string_agg(distinct living.village_code, ', ') as detail,
        array_agg(distinct living.village_code) as evidence_ids
    from households
    inner join living on households.household_id = living.household_id
    where households.village_count > 1
    group by households.household_id
),

unioned as (
    select * from employed_unable
    union all
    select * from claims_after_death
    union all
    select * from two_schools
    union all
    select * from two_villages
),

final as (
    select
        discrepancy_kind || '|' || coalesce(household_id, '') || '|' || coalesce(person_key, '') as discrepancy_id,
        discrepancy_kind,
        household_id,
        person_key,
        departments,
        detail,
        evidence_ids,
        {{ as_of_date() }} as as_of_date
    from unioned
)

select * from final
