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
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
