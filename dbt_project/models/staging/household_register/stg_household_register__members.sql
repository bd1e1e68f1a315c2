-- One row per registered person, from the latest published full extract of the
-- household register on or before the as-of date.
with

published as (
    {{ published_rows('household_register', 'household_register') }}
),

latest_extract as (
    select max(_logical_date) as extract_date
    from published
),

ranked as (
    select
        published.*,
        row_number() over (
            partition by published.person_id
            order by published._row_number desc
        ) as row_rank
    from published
    inner join latest_extract
        on published._logical_date = latest_extract.extract_date
),

final as (
    select
        person_id,
        {{ person_key('person_id') }} as person_key,
        household_id,
        person_name,
        relation,
        sex,
        birth_date,
        village_code,
        left(village_code, 9) as township_code,
        left(village_code, 6) as county_code,
        household_category,
        labour_capacity,
        coalesce(member_status, 'normal') as member_status,
        status_changed_on,
        _logical_date as extract_date,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from ranked
    where row_rank = 1
)

select * from final
