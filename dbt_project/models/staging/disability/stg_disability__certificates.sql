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
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
