-- Out-of-pocket medical spending per household, per accumulation window (calendar
-- year of discharge) and per day the departments made it known (the batch's
-- logical date). Settlements of persons not in the register are not linked.
-- A correction counts from its own date (issue 10): a settlement enters the sum on the
-- date it was first published with the amount of its first version, and each later
-- version (stg_medical_settlements__corrected_versions) changes the sum on that
-- version's date by the difference (the old amount out of the old version's window, the
-- new amount into the new one). So the sums, the events and the warnings of the dates
-- before a correction are never rewritten by it; a correction that lowers the sum below a
-- threshold lifts an open illness warning on its own date (int_risk_warning_states_walked,
-- transition corrected). A settlement is linked to a household through the person of its
-- latest version.
with

settlements as (
    select * from {{ ref('stg_medical_settlements__settlements') }}
),

corrected_versions as (
    select * from {{ ref('stg_medical_settlements__corrected_versions') }}
),

members as (
    select * from {{ ref('int_household_members') }}
),

-- each version of a corrected settlement, with the version before it
version_changes as (
    select
        settlement_id,
        published_on,
        cast(date_trunc('year', discharge_date) as date) as window_start,
        out_of_pocket,
        lag(cast(date_trunc('year', discharge_date) as date)) over (
            partition by settlement_id order by published_on
        ) as window_start_before,
        lag(out_of_pocket) over (partition by settlement_id order by published_on) as out_of_pocket_before
    from corrected_versions
),

-- what each settlement adds on each date: uncorrected settlements once, on the date first
-- published; corrected ones their first version then each change (+1 / -1 settlement in a
-- window it enters / leaves)
additions as (
    select
        settlements.settlement_id,
        settlements.known_on,
        cast(date_trunc('year', settlements.discharge_date) as date) as window_start,
        settlements.out_of_pocket as out_of_pocket_added,
        1 as settlements_added
    from settlements
    where settlements.settlement_id not in (select version_changes.settlement_id from version_changes)
    union all
    select
        settlement_id,
        published_on as known_on,
        window_start,
        case
            when window_start = window_start_before then out_of_pocket - out_of_pocket_before
            else out_of_pocket
        end as out_of_pocket_added,
        case
            when window_start = window_start_before then 0
            else 1
        end as settlements_added
    from version_changes
    where
        window_start_before is null
        or window_start <> window_start_before
        or out_of_pocket <> out_of_pocket_before
    union all
    -- a correction that moved the discharge into another year leaves the old window
    select
        settlement_id,
        published_on as known_on,
        window_start_before as window_start,
        -out_of_pocket_before as out_of_pocket_added,
        -1 as settlements_added
    from version_changes
    where window_start_before is not null and window_start <> window_start_before
),

linked as (
    select
        members.household_id,
        additions.settlement_id,
        additions.out_of_pocket_added,
        additions.settlements_added,
        additions.known_on,
        additions.window_start
    from additions
    inner join settlements on additions.settlement_id = settlements.settlement_id
    inner join members
        on settlements.person_key = members.person_key
),

final as (
    select
        household_id,
        window_start,
        cast(window_start + interval '1 year - 1 day' as date) as window_end,
        known_on,
        sum(out_of_pocket_added) as out_of_pocket_added,
        sum(settlements_added) as settlements_added,
        array_agg(distinct settlement_id order by settlement_id) as settlement_ids
    from linked
    group by household_id, window_start, known_on
)

select * from final
