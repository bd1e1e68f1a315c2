-- Student records (enrolled, dropped out, graduated), latest version of each record.
with

latest as (
    {{ latest_published_rows('education', 'education', ['record_id']) }}
),

final as (
    select
        record_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        school,
        stage,
        status as school_status,
        aid_amount,
        record_date,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
