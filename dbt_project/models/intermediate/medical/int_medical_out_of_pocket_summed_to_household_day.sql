-- Out-of-pocket medical spending per household, per accumulation window (calendar
-- year of discharge) and per day the departments made it known (the batch's
-- logical date). Settlements of persons not in the register are not linked.
with

settlements as (
    select * from {{ ref('stg_medical_settlements__settlements') }}
),

members as (
    select * from {{ ref('int_household_members') }}
),

linked as (
    select
        members.household_id,
        settlements.settlement_id,
        settlements.out_of_pocket,
        settlements.known_on,
        cast(date_trunc('year', settlements.discharge_date) as date) as window_start
    from settlements
    inner join members
        on settlements.person_key = members.person_key
),

final as (
    select
        household_id,
        window_start,
        cast(window_start + interval '1 year - 1 day' as date) as window_end,
        known_on,
        sum(out_of_pocket) as out_of_pocket_added,
        count(*) as settlements_added,
        array_agg(settlement_id order by settlement_id) as settlement_ids
    from linked
    group by household_id, window_start, known_on
)

select * from final
