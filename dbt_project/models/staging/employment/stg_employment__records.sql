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
        _first_known_on as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from latest
)

select * from final
