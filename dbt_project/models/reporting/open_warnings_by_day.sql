-- Open warnings per day and level over the trend window (seed reporting_settings:
-- trend_days, the as-of date included), never before the first day with data: the
-- ledger's first published batch. Days before it are not rows, so no chart draws
-- zeros for days when nothing was known. One row per day and level, zeros included
-- from the first day with data on. Read by the county daily report's trend and the
-- dashboard's line chart.
with

warnings as (
    select * from {{ ref('fct_risk_warnings') }}
),

batches as (
    select * from {{ ref('stg_audit__load_batches') }}
),

settings as (
    select * from {{ ref('reporting_settings') }}
),

levels as (
    select * from {{ ref('warning_levels') }}
),

first_data as (
    select min(logical_date) as first_data_day
    from batches
    where
        status in ('published', 'superseded')
        and logical_date <= {{ as_of_date() }}
),

days as (
    select cast(series.series_day as date) as trend_day
    from settings
    cross join first_data
    cross join lateral generate_series(
        greatest(first_data.first_data_day, {{ as_of_date() }} - (settings.trend_days - 1)),
        {{ as_of_date() }},
        interval '1 day'
    ) as series (series_day)
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        days.trend_day,
        levels.warning_level,
        {{ localized_name('levels') }} as warning_level_name,
        levels.level_rank,
        count(warnings.warning_id) as open_warnings
    from days
    cross join levels
    left join warnings
        on
            levels.warning_level = warnings.warning_level
            and days.trend_day >= warnings.raised_on
            and (warnings.lifted_on is null or days.trend_day < warnings.lifted_on)
    group by days.trend_day, levels.warning_level, {{ localized_name('levels') }}, levels.level_rank
)

select * from final
