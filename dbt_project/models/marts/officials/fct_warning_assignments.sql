{{ config(
    materialized='incremental',
    unique_key='warning_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where valid_from > {{ as_of_date() }}{% endif %}",
    post_hook="{% if is_incremental() %}delete from {{ this }} as a where not exists (select from {{ ref('fct_risk_warnings') }} as w where w.warning_id = a.warning_id){% endif %}"
) }}
-- Who must act on each warning, from when to when: one row per assignment of a duty
-- (home_visit, then assistance once the risk is confirmed) to an official.
--
-- Rules (targets from seed service_targets; shared/DESIGN.md "Who is told", issue 13):
-- - the home visit is assigned on the day the warning is raised, due target days
--   later (3); the assistance on the day the visit confirms the risk, due 15 days later;
-- - the village specialist of the household's village holds it first; not done by the
--   due date, it escalates the next day to the township supervisor (due one target
--   period later) and, still not done by then, the next day to the county officer;
-- - the duty ends on the day it is done (the home visit; the first assistance measure on
--   or after the confirmation) or the warning is lifted; a visit on the day of an
--   escalation still records the escalation (valid_from = valid_to: held by no one
--   at the end of any day);
-- - an official whose posting ends hands the open duty over to the successor on the
--   day after active_to (int_official_duty_spells); a vacant post keeps the duty with
--   official_id null (the county office's work list shows it).
--
-- As of a date D, the assignments in force: valid_from <= D and (valid_to is null or
-- D < valid_to). Incremental: each run recomputes only the warnings with a date (raised,
-- verified, confirmed, lifted, assisted) on or after the latest assignment, or with an
-- assignment still open (or reopened by a re-run of an earlier date, whose later rows
-- the pre-hook deletes); closed duties are kept as they were. Assignments of a warning
-- that no longer exists (a department's correction removed the event that raised it) are
-- deleted after each run (post-hook), as a full refresh would leave them out.
with

{% if is_incremental() %}
    last_assignment as (
        select coalesce(max(valid_from), cast('-infinity' as date)) as last_from
        from {{ this }}
    ),

    touched as (
        select warnings.warning_id
        from {{ ref('fct_risk_warnings') }} as warnings
        cross join last_assignment
        where
            greatest(
                warnings.raised_on,
                warnings.verified_on,
                warnings.confirmed_on,
                warnings.lifted_on,
                warnings.assisted_on
            ) >= last_assignment.last_from
        union
        select warning_id
        from {{ this }}
        where valid_to is null or valid_to > {{ as_of_date() }}
    ),
{% endif %}

warnings as (
    select warnings.*
    from {{ ref('fct_risk_warnings') }} as warnings
    {% if is_incremental() %}
        inner join touched on warnings.warning_id = touched.warning_id
    {% endif %}
),

households as (
    select * from {{ ref('int_households') }}
),

targets as (
    select * from {{ ref('service_targets') }}
),

duty_spells as (
    select * from {{ ref('int_official_duty_spells') }}
),

duties as (
    select
        warnings.warning_id,
        warnings.household_id,
        'home_visit' as duty,
        warnings.raised_on as opened_on,
        least(warnings.verified_on, warnings.lifted_on) as closed_on,
        case
            when
                warnings.verified_on is not null
                and warnings.verified_on <= coalesce(warnings.lifted_on, warnings.verified_on)
                then 'home_visit'
            when warnings.lifted_on is not null then 'lifted'
        end as closed_by,
        targets.days as target_days
    from warnings
    inner join targets on targets.target_id = 'home_visit'
    union all
    select
        warnings.warning_id,
        warnings.household_id,
        'assistance' as duty,
        warnings.confirmed_on as opened_on,
        least(warnings.assisted_on, warnings.lifted_on) as closed_on,
        case
            when
                warnings.assisted_on is not null
                and warnings.assisted_on <= coalesce(warnings.lifted_on, warnings.assisted_on)
                then 'assistance'
            when warnings.lifted_on is not null then 'lifted'
        end as closed_by,
        targets.days as target_days
    from warnings
    inner join targets on targets.target_id = 'assistance'
    -- assistance already given by the day of the confirmation leaves nothing to do
    where
        warnings.confirmed_on is not null
        and (warnings.assisted_on is null or warnings.assisted_on > warnings.confirmed_on)
),

tiers as (
    select
        duties.*,
        tier.escalation_level,
        tier.tier,
        tier.role,
        duties.opened_on + tier.escalation_level * duties.target_days + least(tier.escalation_level, 1) as tier_from,
        duties.opened_on + (tier.escalation_level + 1) * duties.target_days as due_on
    from duties
    cross join (
        values
        (0, 'village', 'village_specialist'),
        (1, 'township', 'township_supervisor'),
        (2, 'county', 'county_officer')
    ) as tier (escalation_level, tier, role)
),

tiers_reached as (
    -- a tier is reached the day after the previous tier's due date, if the duty was not
    -- done by then and that day is on or before the as-of date
    select
        *,
        lead(tier_from) over (partition by warning_id, duty order by escalation_level) as next_tier_from
    from tiers
    where
        tier_from <= {{ as_of_date() }}
        and (closed_on is null or closed_on >= tier_from)
),

tier_spells as (
    select
        tiers_reached.*,
        coalesce(tiers_reached.next_tier_from, tiers_reached.closed_on) as tier_to,
        case
            when tiers_reached.next_tier_from is not null then 'escalated'
            else tiers_reached.closed_by
        end as tier_ended_by,
        case tiers_reached.tier
            when 'village' then households.village_code
            when 'township' then households.township_code
            else households.county_code
        end as area_code,
        households.village_code
    from tiers_reached
    inner join households on tiers_reached.household_id = households.household_id
),

held as (
    select
        tier_spells.*,
        duty_spells.official_id,
        duty_spells.is_vacant,
        greatest(tier_spells.tier_from, duty_spells.duty_from) as assigned_from,
        case
            when tier_spells.tier_to is null then duty_spells.duty_to
            when duty_spells.duty_to is null then tier_spells.tier_to
            else least(tier_spells.tier_to, duty_spells.duty_to)
        end as assigned_to,
        duty_spells.duty_to
    from tier_spells
    inner join duty_spells
        on
            tier_spells.area_code = duty_spells.area_code
            and tier_spells.role = duty_spells.role
            and (
                tier_spells.tier_from >= duty_spells.duty_from
                or duty_spells.duty_from < coalesce(tier_spells.tier_to, cast('infinity' as date))
            )
            and coalesce(duty_spells.duty_to, cast('infinity' as date)) > tier_spells.tier_from
),

final as (
    select
        held.warning_id || '-' || held.duty || '-' || held.tier || '-' || to_char(held.assigned_from, 'YYYYMMDD')
            as assignment_id,
        held.warning_id,
        held.household_id,
        held.village_code,
        held.duty,
        held.tier,
        held.escalation_level,
        held.role as assignee_role,
        held.area_code as assignee_area_code,
        held.official_id,
        held.is_vacant,
        case
            when held.assigned_from > held.tier_from then 'handover'
            when held.escalation_level > 0 then 'escalated'
            when held.duty = 'home_visit' then 'raised'
            else 'confirmed'
        end as assigned_because,
        held.opened_on as duty_opened_on,
        held.due_on,
        held.assigned_from as valid_from,
        -- a handover on a date after the as-of date is not known yet: the row stays open
        case when held.assigned_to <= {{ as_of_date() }} then held.assigned_to end as valid_to,
        case
            when held.assigned_to > {{ as_of_date() }} or held.assigned_to is null then null
            when
                held.duty_to is not null
                and held.duty_to = held.assigned_to
                and held.duty_to < coalesce(held.tier_to, cast('infinity' as date))
                then 'handover'
            else held.tier_ended_by
        end as ended_by,
        held.closed_on as duty_closed_on,
        held.closed_by as duty_closed_by
    from held
    -- a handover already announced for a later date is not in force yet
    where held.assigned_from <= {{ as_of_date() }}
)

select * from final
