{{ config(materialized='table', indexes=[{'columns': ['person_key'], 'unique': True}]) }}
-- Persons linked to their household (from the register), keyed by the salted person key.
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
)

select * from final
