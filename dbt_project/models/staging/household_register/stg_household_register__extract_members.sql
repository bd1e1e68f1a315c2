{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='extract_date',
    on_schema_change='fail',
    indexes=[
        {'columns': ['extract_date']},
        {'columns': ['batch_id']},
    ],
    pre_hook=["{{ batch_scope_prepare('household_register') }}"],
    post_hook=[
        "{{ delete_records_out_of_scope('household_register') }}",
        "{{ record_batch_scope('household_register') }}",
        "{{ ensure_index(['household_id', 'extract_date']) }}",
    ]
) }}
-- One row per person per published register extract (every full extract up to the
-- as-of date, not only the latest): what the register said on each extract date.
-- For changes over time (labour capacity, village); names are left out.
-- Incremental (macros/incremental_staging.sql, snapshot sources): a daily run derives
-- again only the extract dates of the batches published, superseded or moved out of
-- the as-of scope since the last build; on a day without a register extract, none.
-- Indexed on household and date: the lineage finds a warning's extract rows by them
-- (macros/risk_evidence_rows.sql).
with

published as (
    select *
    from ({{ published_rows('household_register', 'household_register', build_scope=true) }}) as in_scope
    where {{ changed_extract_dates_only('household_register') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _logical_date, person_id
            order by _delivered_at desc, _batch_id desc, _row_number desc
        ) as row_rank
    from published
),

final as (
    select
        _logical_date || '|' || {{ person_key('person_id') }} as extract_member_id,
        _logical_date as extract_date,
        {{ person_key('person_id') }} as person_key,
        household_id,
        village_code,
        household_category,
        labour_capacity,
        coalesce(member_status, 'normal') as member_status,
        _batch_id as batch_id,
        _row_number as source_row_number
    from ranked
    where row_rank = 1
)

select * from final
