-- House safety and drinking water assessments, latest version of each assessment.
with

latest as (
    {{ latest_published_rows('housing_water', 'housing_water', ['household_id', 'assessed_on']) }}
),

final as (
    select
        household_id,
        assessed_on,
        house_safety_rating,
        safe_drinking_water = 'yes' as has_safe_drinking_water,
        _first_known_on as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from latest
)

select * from final
