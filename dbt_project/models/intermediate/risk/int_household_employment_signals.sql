-- Household employment as signals for rule UNSTABLE_EMPLOYMENT (factor 07), one row
-- per household and event, dated when the department's record made it known:
--   1  a working-age member's job ended (his employed spell ends) and no member of
--      the household is employed the day after: the job-loss signal (yellow);
--   2  no member employed for months_without_employment_for_red months (seed
--      rule_parameters, default 3) since that job ended (red);
--   0  a member is employed again after such a gap: the signal clears, and the
--      rule clears automatically (seed risk_rules; SEED_CASES.md S3).
-- A job "ends" by an end-of-employment record ('left'); a fixed-term job recorded
-- with its end date from the start (seasonal cotton picking) ends as planned and is
-- no job loss. Recruited but not yet started is not employed. Working age: seed
-- rule_parameters.
-- No contributions data is received, so "3 months without contributions" reads
-- "3 months without employment".
with

spells as (
    select * from {{ ref('int_person_employment_spells') }}
),

jobs as (
    select * from {{ ref('int_employment_jobs') }}
),

members as (
    select * from {{ ref('int_household_members') }}
),

member_spells as (
    select
        members.household_id,
        members.birth_date,
        spells.person_key,
        spells.is_employed,
        spells.valid_from,
        spells.valid_to,
        spells.evidence_record_ids
    from spells
    inner join members on spells.person_key = members.person_key
),

boundaries as (
    select
        household_id,
        valid_from as boundary
    from member_spells
    union
    select
        household_id,
        valid_to + 1 as boundary
    from member_spells
    where valid_to is not null
),

segments as (
    select
        household_id,
        boundary as valid_from,
        lead(boundary) over (partition by household_id order by boundary) - 1 as valid_to
    from boundaries
),

household_segments as (
    select
        segments.household_id,
        segments.valid_from,
        segments.valid_to,
        count(member_spells.person_key) filter (where member_spells.is_employed) as employed_members
    from segments
    left join member_spells
        on
            segments.household_id = member_spells.household_id
            and segments.valid_from >= member_spells.valid_from
            and (member_spells.valid_to is null or segments.valid_from <= member_spells.valid_to)
    group by segments.household_id, segments.valid_from, segments.valid_to
),

changes as (
    select
        *,
        lag(employed_members) over (partition by household_id order by valid_from) as employed_members_before
    from household_segments
),

-- Runs of consecutive segments without an employed member (gaps and islands: a
-- recruitment or another member's spell cuts segments, not the run); a run that
-- follows employment (employment_run > 0) began with a job ending.
runs as (
    select
        *,
        sum(case when employed_members > 0 then 1 else 0 end)
            over (partition by household_id order by valid_from)
            as employment_run
    from changes
),

zero_runs as (
    select
        household_id,
        employment_run,
        min(valid_from) as valid_from,
        case when bool_or(valid_to is null) then null else max(valid_to) end as valid_to
    from runs
    where employed_members = 0 and employment_run > 0
    group by household_id, employment_run
),

-- The jobs that ended the day before a run without employment began, held by a
-- member of working age on that day.
ended_jobs as (
    select
        zero_runs.household_id,
        zero_runs.valid_from,
        zero_runs.valid_to,
        max(jobs.known_on) as known_on,
        array_agg(jobs.latest_record_id order by jobs.latest_record_id) as evidence_ids
    from zero_runs
    inner join members on zero_runs.household_id = members.household_id
    inner join jobs
        on
            members.person_key = jobs.person_key
            and jobs.end_date = zero_runs.valid_from - 1
            and jobs.latest_record_status = 'left'
    where
        extract(year from age(zero_runs.valid_from, members.birth_date))
        between {{ rule_parameter('UNSTABLE_EMPLOYMENT', 'working_age_from') }}
        and {{ rule_parameter('UNSTABLE_EMPLOYMENT', 'working_age_to') }}
    group by zero_runs.household_id, zero_runs.valid_from, zero_runs.valid_to
),

job_loss as (
    select
        household_id,
        greatest(valid_from, known_on) as event_date,
        1 as signal_value,
        evidence_ids
    from ended_jobs
),

long_gap as (
    select
        household_id,
        greatest(
            known_on,
            cast(
                valid_from + {{ rule_parameter('UNSTABLE_EMPLOYMENT', 'months_without_employment_for_red') }}
                * interval '1 month' as date
            )
        ) as event_date,
        2 as signal_value,
        evidence_ids
    from ended_jobs
    where
        valid_to is null
        or valid_to >= cast(
            valid_from + {{ rule_parameter('UNSTABLE_EMPLOYMENT', 'months_without_employment_for_red') }}
            * interval '1 month' as date
        )
),

re_employed as (
    select
        changes.household_id,
        greatest(changes.valid_from, max(jobs.known_on)) as event_date,
        0 as signal_value,
        array_agg(jobs.latest_record_id order by jobs.latest_record_id) as evidence_ids
    from changes
    inner join members on changes.household_id = members.household_id
    inner join jobs
        on
            members.person_key = jobs.person_key
            and changes.valid_from = jobs.start_date
    where changes.employed_members > 0 and changes.employed_members_before = 0
    group by changes.household_id, changes.valid_from
),

final as (
    select * from job_loss
    union all
    select * from long_gap
    union all
    select * from re_employed
)

select
    household_id,
    event_date,
    signal_value,
    evidence_ids
from final
where event_date <= {{ as_of_date() }}
