-- Disability certificates, latest version of each certificate.
with

latest as (
    {{ latest_published_rows('disability', 'disability', ['certificate_id']) }}
),

final as (
    select
        certificate_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        category as disability_category,
        cast(grade as integer) as disability_grade,
        issue_date,
        _first_known_on as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from latest
)

select * from final
