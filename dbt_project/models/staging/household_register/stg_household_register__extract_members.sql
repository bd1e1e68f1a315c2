-- One row per person per published register extract (every full extract up to the
-- as-of date, not only the latest): what the register said on each extract date.
-- For changes over time (labour capacity, village); names are left out.
with

published as (
    {{ published_rows('household_register', 'household_register') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _logical_date, person_id
            order by _row_number desc
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
