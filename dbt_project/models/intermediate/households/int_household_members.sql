{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[{'columns': ['person_key'], 'unique': True}, {'columns': ['household_id']}],
    pre_hook=[
        "{{ batch_scope_prepare('household_register', upstream=ref('stg_household_register__members')) }}",
        "{{ truncate_if_batches_changed('household_register') }}",
    ],
    post_hook=["{{ record_batch_scope('household_register') }}"]
) }}
-- Persons of each household (from the register), keyed by the salted person key,
-- with their status: members recorded as deceased or moved out stay linked to the
-- household (their earlier hospital bills and jobs remain its history) but are not
-- counted in its size (is_living false); marts.mart_data_discrepancies follows up
-- their later records.
-- Derived again only when stg_household_register__members was: its scope is the one that
-- model recorded (batch_scope_prepare upstream=; macros/incremental_staging.sql), so a
-- register batch published while the build runs reaches both in the same later run.
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
        member_status,
        member_status = 'normal' as is_living,
        extract_date
    from members
    where {{ batches_changed('household_register') }}
)

select * from final
