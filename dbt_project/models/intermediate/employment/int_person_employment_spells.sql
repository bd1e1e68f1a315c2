-- Employment status of each person as a sequence of spells (valid_from..valid_to,
-- valid_to null while current): "who was employed on date X" is
--   where X between valid_from and coalesce(valid_to, 'infinity').
-- On a day a person is
--   employed       if a job covers the day (int_employment_jobs; start confirmed);
--   recruited      else, if recruited on or before the day for a job not yet started;
--   not_employed   else (after a job ended, or before any record).
-- Several jobs at once give one employed spell with every employer and the wages summed.
with

jobs as (
    select * from {{ ref('int_employment_jobs') }}
),

records as (
    select * from {{ ref('stg_employment__records') }}
),

recruitments as (
    select
        recruited.person_key,
        recruited.employer,
        recruited.place,
        recruited.monthly_wage,
        recruited.record_id,
        recruited.record_date as valid_from,
        min(jobs.start_date) - 1 as valid_to
    from records as recruited
    left join jobs
        on
            recruited.person_key = jobs.person_key
            and recruited.employer = jobs.employer
            and recruited.record_date <= jobs.start_date
    where recruited.record_status = 'recruited'
    group by
        recruited.person_key, recruited.employer, recruited.place, recruited.monthly_wage, recruited.record_id,
        recruited.record_date
),

intervals as (
    select
        person_key,
        'employed' as interval_kind,
        employer,
        place,
        monthly_wage,
        latest_record_id as record_id,
        start_date as valid_from,
        end_date as valid_to
    from jobs
    union all
    select
        person_key,
        'recruited' as interval_kind,
        employer,
        place,
        monthly_wage,
        record_id,
        valid_from,
        valid_to
    from recruitments
    where valid_to is null or valid_to >= valid_from
),

boundaries as (
    select
        person_key,
        valid_from as boundary
    from intervals
    union
    select
        person_key,
        valid_to + 1 as boundary
    from intervals
    where valid_to is not null
),

segments as (
    select
        person_key,
        boundary as valid_from,
        lead(boundary) over (partition by person_key order by boundary) - 1 as valid_to
    from boundaries
),

classified as (
    select
        segments.person_key,
        segments.valid_from,
        segments.valid_to,
        case
            when count(*) filter (where intervals.interval_kind = 'employed') > 0 then 'employed'
            when count(*) filter (where intervals.interval_kind = 'recruited') > 0 then 'recruited'
            else 'not_employed'
        end as employment_status,
        string_agg(intervals.employer, '; ' order by intervals.employer)
        filter (where intervals.interval_kind = 'employed') as employers,
        string_agg(intervals.employer, '; ' order by intervals.employer)
        filter (where intervals.interval_kind = 'recruited') as recruiting_employers,
        string_agg(distinct intervals.place, '; ')
        filter (where intervals.interval_kind = 'employed') as places,
        sum(intervals.monthly_wage) filter (where intervals.interval_kind = 'employed') as monthly_wage,
        string_agg(intervals.record_id, '; ' order by intervals.record_id) as evidence_record_ids
    from segments
    left join intervals
        on
            segments.person_key = intervals.person_key
            and segments.valid_from >= intervals.valid_from
            and (intervals.valid_to is null or segments.valid_from <= intervals.valid_to)
    group by segments.person_key, segments.valid_from, segments.valid_to
),

final as (
    select
        person_key || '|' || valid_from as status_spell_id,
        person_key,
        employment_status,
        employment_status = 'employed' as is_employed,
        valid_from,
        valid_to,
        coalesce(employers, recruiting_employers) as employer,
        places as place,
        monthly_wage,
        evidence_record_ids,
        {{ as_of_date() }} as as_of_date
    from classified
)

select * from final
