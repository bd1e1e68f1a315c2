{{ config(materialized='table', indexes=[{'columns': ['person_key'], 'unique': True}]) }}
-- Persons living in their household (from the register), keyed by the salted person
-- key: members recorded as deceased or moved out are not counted (household size,
-- income per capita); marts.mart_data_discrepancies follows up their later records.
with

members as (
    select * from {{ ref('stg_household_register__members') }}
),

final as (
    select
        person_key,
        household_id,
        relation,
        sex,
        birth_date,
        village_code,
        township_code,
        county_code,
        household_category,
        labour_capacity,
        extract_date
    from members
    where member_status = 'normal'
)

select * from final
