-- One row per settlement. A settlement sent again (a correction) is taken from
-- the latest published batch; the earlier row stays in raw for the audit trail.
with

latest as (
    {{ latest_published_rows('medical_settlements', 'medical_settlements', ['settlement_id']) }}
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
        _first_known_on as known_on,
        _batch_id as batch_id,
        _row_number as source_row_number,
        _file_name as source_file_name
    from latest
)

select * from final
