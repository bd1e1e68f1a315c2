-- Village rows add up to their township's row, township rows to the county's row,
-- for every measure of mart_area_summary (scenario S4). Returns the rows that differ.
with

summary as (
    select * from {{ ref('mart_area_summary') }}
),

children as (
    select
        parent_area_code,
        sum(households_monitored) as households_monitored,
        sum(households_with_employed_member) as households_with_employed_member,
        sum(households_at_or_above_monitoring_line) as households_at_or_above_monitoring_line,
        sum(households_with_open_warning) as households_with_open_warning,
        sum(open_warnings) as open_warnings
    from summary
    where parent_area_code is not null
    group by parent_area_code
)

select
    parent.area_code,
    parent.area_level
from summary as parent
inner join children on parent.area_code = children.parent_area_code
where
    parent.households_monitored <> children.households_monitored
    or parent.households_with_employed_member <> children.households_with_employed_member
    or parent.households_at_or_above_monitoring_line <> children.households_at_or_above_monitoring_line
    or parent.households_with_open_warning <> children.households_with_open_warning
    or parent.open_warnings <> children.open_warnings
