-- One row per registered household: where it lives, its category and its size, from
-- the latest register extract (extract_date).
with

members as (
    select * from {{ ref('int_household_members') }}
),

final as (
    select
        household_id,
        min(village_code) as village_code,
        min(township_code) as township_code,
        min(county_code) as county_code,
        min(household_category) as household_category,
        count(*) filter (where is_living) as member_count,
        count(*) filter (where is_living and labour_capacity in ('full', 'weak')) as members_with_labour_capacity,
        count(distinct village_code) as village_count,
        max(extract_date) as extract_date
    from members
    group by household_id
)

select * from final
