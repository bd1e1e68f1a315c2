-- Employment records (recruited, employed, left), latest version of each record.
with

latest as (
    {{ latest_published_rows('employment', 'employment', ['record_id']) }}
),

final as (
    select
        record_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        employer,
        place,
        status as record_status,
        start_date,
        end_date,
        monthly_wage,
        record_date,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
