-- Assistance measures each household received, one row per measure: a payment of
-- social assistance (minimum living allowance, extreme-poverty support, temporary
-- assistance or a subsidy) on its payment date, and a public-welfare job of a member
-- from its start date. They measure the time from a warning to assistance (target:
-- seed service_targets 'assistance') and count as the assistance measure that risk
-- elimination requires (shared/DESIGN.md, warning lifecycle).
with

payments as (
    select * from {{ ref('stg_social_assistance__payments') }}
),

welfare_jobs as (
    select * from {{ ref('stg_public_welfare_jobs__job_spells') }}
),

members as (
    select * from {{ ref('int_household_members') }}
),

measures as (
    select
        'payment|' || payments.payment_id as measure_id,
        payments.household_id,
        'social_assistance' as measure_kind,
        payments.programme as measure,
        payments.payment_date as measure_date,
        payments.amount,
        payments.payment_id as evidence_id
    from payments
    union all
    select
        'welfare_job|' || welfare_jobs.job_id as measure_id,
        members.household_id,
        'public_welfare_job' as measure_kind,
        welfare_jobs.post as measure,
        welfare_jobs.start_date as measure_date,
        welfare_jobs.monthly_pay as amount,
        welfare_jobs.job_id as evidence_id
    from welfare_jobs
    inner join members on welfare_jobs.person_key = members.person_key
),

final as (
    select * from measures
    where measure_date <= {{ as_of_date() }}
)

select * from final
