-- Employment status of each person as a sequence of spells (valid_from..valid_to,
-- valid_to null while current): "who was employed on date X" is
--   where X between valid_from and coalesce(valid_to, 'infinity').
-- Status comes from the bureau's records known on the as-of date:
--   recruited      recruited, start not yet confirmed (from the record date);
--   employed       start confirmed (from the start date; stably employed);
--   not_employed   after a job's end date (a 'left' record, or seasonal work that ended).
-- A later record overrides an earlier one from its own date on.
with

records as (
    select * from {{ ref('stg_employment__records') }}
),

events as (
    select
        person_key,
        record_id,
        employer,
        place,
        monthly_wage,
        record_date as event_date,
        'recruited' as employment_status,
        known_on
    from records
    where record_status = 'recruited'
    union all
    select
        person_key,
        record_id,
        employer,
        place,
        monthly_wage,
        coalesce(start_date, record_date) as event_date,
        'employed' as employment_status,
        known_on
    from records
    where record_status = 'employed'
    union all
    select
        person_key,
        record_id,
        employer,
        place,
        cast(null as numeric(14, 2)) as monthly_wage,
        coalesce(end_date, record_date) + 1 as event_date,
        'not_employed' as employment_status,
        known_on
    from records
    where record_status = 'left' or (record_status = 'employed' and end_date is not null)
),

ordered as (
    select
        *,
        row_number() over (
            partition by person_key, event_date
            order by known_on desc, record_id desc, employment_status asc
        ) as same_day_rank
    from events
),

spells as (
    select
        person_key,
        record_id,
        employer,
        place,
        monthly_wage,
        employment_status,
        event_date as valid_from,
        lead(event_date) over (partition by person_key order by event_date) - 1 as valid_to
    from ordered
    where same_day_rank = 1
),

final as (
    select
        person_key || '|' || valid_from as status_spell_id,
        person_key,
        employment_status,
        employment_status = 'employed' as is_employed,
        valid_from,
        valid_to,
        employer,
        place,
        monthly_wage,
        record_id as evidence_record_id,
        {{ as_of_date() }} as as_of_date
    from spells
)

select * from final
