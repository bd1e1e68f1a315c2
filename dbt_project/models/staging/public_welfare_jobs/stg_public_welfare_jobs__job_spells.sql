-- Public-welfare job spells, latest version of each job.
with

latest as (
    {{ latest_published_rows('public_welfare_jobs', 'public_welfare_jobs', ['job_id']) }}
),

final as (
    select
        job_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        post,
        monthly_pay,
        start_date,
        end_date,
        _first_known_on as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from latest
)

select * from final
