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
        {{ batch_lineage_columns() }}
    from latest
)

select * from final
