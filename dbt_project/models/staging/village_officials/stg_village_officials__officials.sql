-- One row per official's posting (village specialist, township supervisor, county
-- officer), latest version from the roster. Names, phones and emails are the
-- officials' personal data: only this view and raw hold them; marts carry official_id.
with

latest as (
    {{ latest_published_rows('village_officials', 'village_officials', ['official_id']) }}
),

final as (
    select
        official_id,
        official_name,
        role,
        area_code,
        case role
            when 'village_specialist' then 'village'
            when 'township_supervisor' then 'township'
            when 'county_officer' then 'county'
        end as area_level,
        phone,
        email,
        active_from,
        active_to,
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
