{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[{'columns': ['person_key']}, {'columns': ['household_id']}],
    pre_hook=[
        "{{ batch_scope_prepare('household_register', upstream=ref('stg_household_register__extract_members')) }}",
        "{{ truncate_if_batches_changed('household_register') }}",
    ],
    post_hook=["{{ record_batch_scope('household_register') }}"]
) }}
-- Who belonged to which household when, from the successive published register
-- extracts (full snapshots): one row per person and continuous stay in a household.
-- A stay opens with the first extract listing the person in the household (a birth,
-- a move in, or the first register extract) and closes the day before the first
-- extract that lists the person elsewhere or not at all (a move out or a death);
-- valid_to is null while the latest extract still lists the person there.
-- Derived again, from every extract, only when a register batch was published,
-- superseded or moved out of the as-of scope since the last build (the register sends
-- a full extract a month: a day without one reads nothing; macros/incremental_staging.sql).
-- depends_on: {{ ref('stg_household_register__extract_members') }}
with

published as (
    select *
    from ({{ published_rows('household_register', 'household_register', build_scope=true) }}) as in_scope
    where {{ batches_changed('household_register') }}
),

extracts as (
    select distinct _logical_date as extract_date
    from published
),

ordered_extracts as (
    select
        extract_date,
        lead(extract_date) over (order by extract_date) as next_extract_date,
        row_number() over (order by extract_date) as extract_seq
    from extracts
),

listed as (
    select distinct
        {{ person_key('published.person_id') }} as person_key,
        published.household_id,
        ordered_extracts.extract_date,
        ordered_extracts.next_extract_date,
        ordered_extracts.extract_seq
    from published
    inner join ordered_extracts on published._logical_date = ordered_extracts.extract_date
),

islands as (
    select
        *,
        extract_seq - row_number() over (
            partition by person_key, household_id order by extract_seq
        ) as island
    from listed
),

stays as (
    select
        person_key,
        household_id,
        min(extract_date) as valid_from,
        max(extract_seq) as last_seq
    from islands
    group by person_key, household_id, island
),

final as (
    select
        stays.person_key || '|' || stays.household_id || '|' || stays.valid_from as membership_id,
        stays.person_key,
        stays.household_id,
        stays.valid_from,
        ordered_extracts.next_extract_date - 1 as valid_to,
        ordered_extracts.next_extract_date is null as is_current
    from stays
    inner join ordered_extracts on stays.last_seq = ordered_extracts.extract_seq
)

select * from final
