-- Who holds each duty post on every day: one row per area (village, township, county)
-- and role, per spell with one holder, the spells of a post covering all time without
-- gap or overlap. A spell with no active official is vacant (official_id null). When
-- several officials of one role serve one area at once, the duty is the earliest
-- appointed one's (then the lowest official_id). A posting's active_to is its last
-- day: its successor holds the post from the next day. duty_to is exclusive, null =
-- open-ended.
with

officials as (
    select * from {{ ref('stg_village_officials__officials') }}
),

divisions as (
    select * from {{ ref('admin_divisions') }}
),

posts as (
    select
        division_code as area_code,
        case level
            when 'village' then 'village_specialist'
            when 'township' then 'township_supervisor'
            when 'county' then 'county_officer'
        end as role  -- noqa: RF04
    from divisions
    where level in ('village', 'township', 'county')
    union
    select
        area_code,
        role
    from officials
),

changes as (
    select
        area_code,
        role,
        cast('-infinity' as date) as change_on
    from posts
    union
    select
        area_code,
        role,
        active_from
    from officials
    union
    select
        area_code,
        role,
        active_to + 1 as change_on
    from officials
    where active_to is not null
),

segments as (
    select
        area_code,
        role,
        change_on as segment_from,
        lead(change_on) over (partition by area_code, role order by change_on) as segment_to
    from changes
),

candidates as (
    select
        segments.area_code,
        segments.role,
        segments.segment_from,
        segments.segment_to,
        officials.official_id,
        row_number() over (
            partition by segments.area_code, segments.role, segments.segment_from
            order by officials.active_from nulls last, officials.official_id nulls last
        ) as holder_rank
    from segments
    left join officials
        on
            segments.area_code = officials.area_code
            and segments.role = officials.role
            and segments.segment_from >= officials.active_from
            and (officials.active_to is null or segments.segment_from <= officials.active_to)
),

holders as (
    select
        *,
        case
            when
                lag(coalesce(official_id, '')) over (partition by area_code, role order by segment_from)
                = coalesce(official_id, '')
                then 0
            else 1
        end as starts_spell
    from candidates
    where holder_rank = 1
),

numbered as (
    select
        *,
        sum(starts_spell) over (partition by area_code, role order by segment_from) as spell_number
    from holders
),

final as (
    select
        area_code || '-' || role || '-' || cast(min(segment_from) as text) as duty_spell_id,
        area_code,
        role,
        official_id,
        official_id is null as is_vacant,
        min(segment_from) as duty_from,
        case when bool_or(segment_to is null) then null else max(segment_to) end as duty_to
    from numbered
    group by area_code, role, spell_number, official_id
)

select * from final
