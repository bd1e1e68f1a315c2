-- One row per job of a person, from the employment bureau's records: a job is a
-- person, an employer and a start date; its records (employed, left) are versions
-- of it, and the latest one known gives its end date and wage. A 'left' record
-- therefore closes the job it names without erasing the time worked; a second job
-- at the same time is a second row (both wages count).
with

records as (
    select * from {{ ref('stg_employment__records') }}
),

job_records as (
    select
        person_key,
        employer,
        place,
        coalesce(start_date, record_date) as start_date,
        end_date,
        monthly_wage,
        record_status,
        record_id,
        record_date,
        known_on
    from records
    where record_status in ('employed', 'left')
),

versions as (
    select
        *,
        row_number() over (
            partition by person_key, employer, start_date
            order by record_date desc, known_on desc, record_id desc
        ) as version_rank,
        max(end_date) over (partition by person_key, employer, start_date) as last_end_date,
        max(known_on) over (partition by person_key, employer, start_date) as last_known_on,
        count(*) over (partition by person_key, employer, start_date) as records_of_job
    from job_records
),

final as (
    select
        person_key || '|' || employer || '|' || start_date as job_id,
        person_key,
        employer,
        place,
        start_date,
        coalesce(end_date, last_end_date) as end_date,
        monthly_wage,
        record_status as latest_record_status,
        record_id as latest_record_id,
        last_known_on as known_on,
        records_of_job
    from versions
    where version_rank = 1
)

select * from final
