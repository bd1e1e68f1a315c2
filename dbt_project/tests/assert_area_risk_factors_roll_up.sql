-- Open warnings by factor and level: village rows add up to their township's row,
-- township rows to the county's, and the county's total equals mart_area_summary's
-- open_warnings (scenario S4). Returns the rows that differ.
with

factors as (
    select * from {{ ref('mart_area_risk_factors') }}
),

summary as (
    select * from {{ ref('mart_area_summary') }}
),

children as (
    select
        parent_area_code,
        risk_factor,
        warning_level,
        sum(open_warnings) as open_warnings
    from factors
    where parent_area_code is not null
    group by parent_area_code, risk_factor, warning_level
),

county_total as (
    select sum(open_warnings) as open_warnings
    from factors
    where area_level = 'county'
)

select parent.area_factor_level_id as failing_row
from factors as parent
full outer join children
    on
        parent.area_code = children.parent_area_code
        and parent.risk_factor = children.risk_factor
        and parent.warning_level = children.warning_level
where
    (parent.area_level <> 'village' or children.parent_area_code is not null)
    and parent.open_warnings is distinct from children.open_warnings
union all
select 'county total' as failing_row
from summary
cross join county_total
where summary.area_level = 'county' and summary.open_warnings <> coalesce(county_total.open_warnings, 0)
