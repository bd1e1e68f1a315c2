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
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
