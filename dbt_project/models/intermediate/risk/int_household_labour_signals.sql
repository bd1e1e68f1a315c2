{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[{'columns': ['household_id']}],
    pre_hook=[
        "{{ batch_scope_prepare('household_register', upstream=ref('stg_household_register__extract_members')) }}",
        "{{ truncate_if_batches_changed('household_register') }}",
    ],
    post_hook=["{{ record_batch_scope('household_register') }}"]
) }}
-- Labour capacity of each household as signals for rule LACK_OF_LABOUR (factor 04):
-- 1 when no registered member has full or weak labour capacity, 0 otherwise, from
-- each published register extract, one row on the household's first extract and on
-- each extract where that changed (dated with the extract's logical date).
-- Derived again, from every extract, only when a register batch was published,
-- superseded or moved out of the as-of scope since the last build, as
-- int_household_memberships (macros/incremental_staging.sql): a day without a register
-- extract reads nothing (issue 10: 13 s a day at 100,000 households with a year of
-- monthly extracts).
with

extract_members as (
    select *
    from {{ ref('stg_household_register__extract_members') }}
    where {{ batches_changed('household_register') }}
),

households_per_extract as (
    select
        household_id,
        extract_date,
        case
            when count(*) filter (where labour_capacity in ('full', 'weak')) = 0 then 1 else 0
        end as lacks_labour
    from extract_members
    where member_status = 'normal'
    group by household_id, extract_date
),

changes as (
    select
        *,
        lag(lacks_labour) over (partition by household_id order by extract_date) as lacks_labour_before
    from households_per_extract
),

final as (
    select
        household_id,
        extract_date as event_date,
        lacks_labour as signal_value,
        array[household_id || '|' || extract_date] as evidence_ids
    from changes
    where lacks_labour_before is null or lacks_labour <> lacks_labour_before
)

select * from final
