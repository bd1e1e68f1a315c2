-- One row per settlement. A settlement sent again (a correction) is taken from
-- the latest published batch; the earlier row stays in raw for the audit trail.
with

published as (
    {{ published_rows('medical_settlements', 'medical_settlements') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by settlement_id
            order by _logical_date desc, _batch_id desc, _row_number desc
        ) as row_rank
    from published
),

final as (
    select
        settlement_id,
        person_id,
        {{ person_key('person_id') }} as person_key,
        hospital,
        admission_date,
        discharge_date,
        total_cost,
        basic_insurance,
        critical_illness_insurance,
        medical_assistance,
        out_of_pocket,
        _logical_date as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from ranked
    where row_rank = 1
)

select * from final
