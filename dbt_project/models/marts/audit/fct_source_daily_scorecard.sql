-- One row per contract source and logical date: what the source sent that day and how
-- good it was. Completeness (rows with every required value), validity (rows that
-- passed every check), freshness (days since the last published batch; an alert when
-- nothing arrived that day) and volume against the usual volume (median rows read on
-- the previous days with a file; window and tolerance in the seed scorecard_settings).
-- Superseded batches (replaced by a re-run, or withdrawn) are not counted.
with

batches as (
    select * from {{ source('audit', 'load_batches') }}
),

settings as (
    select * from {{ ref('scorecard_settings') }}
),

unregistered as (
    select * from {{ ref('fct_unregistered_person_records') }}
),

contract_sources as (
    {%- for src in contract_sources() %}
        select
            '{{ src.name }}' as source_name,
            {{ src.warn_after_days }} as warn_after_days
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

-- Quarantined rows that lack a required value (an empty cell, or a whole batch
-- rejected for a missing required column): what completeness counts.
missing_required as (
    {%- for src in contract_sources() %}
        select
            quarantined._batch_id as batch_id,
            count(*) as rows_missing_required
        from {{ source('quarantine', src.name) }} as quarantined
        where
            exists (
                select 1
                from unnest(quarantined.reasons) as reasons (reason)
                where
                    reasons.reason like '%: required value is empty'
                    or reasons.reason like 'batch rejected: required column(s) missing%'
            )
        group by quarantined._batch_id
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

current_batches as (
    select
        batches.*,
        coalesce(missing_required.rows_missing_required, 0) as rows_missing_required
    from batches
    left join missing_required
        on batches.batch_id = missing_required.batch_id
    where
        batches.status != 'superseded'
        and batches.logical_date <= {{ as_of_date() }}
),

date_range as (
    select
        min(logical_date) as first_date,
        {%- if var('as_of_date') %}
            {{ as_of_date() }} as last_date
        {%- else %}
            max(logical_date) as last_date
        {%- endif %}
    from current_batches
),

calendar as (
    select cast(series.calendar_day as date) as logical_date
    from date_range
    cross join generate_series(date_range.first_date, date_range.last_date, interval '1 day') as series (calendar_day)
),

daily as (
    select
        source as source_name,
        logical_date,
        count(*) as files_received,
        count(*) filter (where status = 'published') as files_published,
        count(*) filter (where status in ('rejected', 'failed_validation')) as files_held_back,
        sum(rows_read) as rows_read,
        sum(rows_loaded) as rows_loaded,
        sum(rows_quarantined) as rows_quarantined,
        sum(rows_missing_required) as rows_missing_required
    from current_batches
    group by source, logical_date
),

-- Published records whose person is in no register, by the day of their batch.
unregistered_daily as (
    select
        source_name,
        batch_logical_date as logical_date,
        count(*) as rows_person_unregistered
    from unregistered
    group by source_name, batch_logical_date
),

grid as (
    select
        contract_sources.source_name,
        contract_sources.warn_after_days,
        calendar.logical_date,
        coalesce(daily.files_received, 0) as files_received,
        coalesce(daily.files_published, 0) as files_published,
        coalesce(daily.files_held_back, 0) as files_held_back,
        coalesce(daily.rows_read, 0) as rows_read,
        coalesce(daily.rows_loaded, 0) as rows_loaded,
        coalesce(daily.rows_quarantined, 0) as rows_quarantined,
        coalesce(daily.rows_missing_required, 0) as rows_missing_required,
        coalesce(unregistered_daily.rows_person_unregistered, 0) as rows_person_unregistered
    from contract_sources
    cross join calendar
    left join daily
        on
            contract_sources.source_name = daily.source_name
            and calendar.logical_date = daily.logical_date
    left join unregistered_daily
        on
            contract_sources.source_name = unregistered_daily.source_name
            and calendar.logical_date = unregistered_daily.logical_date
),

with_last_published as (
    select
        grid.*,
        max(case when grid.files_published > 0 then grid.logical_date end) over (
            partition by grid.source_name
            order by grid.logical_date
            rows between unbounded preceding and current row
        ) as last_published_on
    from grid
),

-- The source's previous days with a file, latest first (the usual volume's window).
previous_days as (
    select
        grid.source_name,
        grid.logical_date,
        daily.rows_read,
        row_number() over (
            partition by grid.source_name, grid.logical_date
            order by daily.logical_date desc
        ) as days_back
    from grid
    inner join daily
        on
            grid.source_name = daily.source_name
            and grid.logical_date > daily.logical_date
),

usual as (
    select
        previous_days.source_name,
        previous_days.logical_date,
        percentile_cont(0.5) within group (order by previous_days.rows_read) as usual_rows_read,
        count(*) as usual_days
    from previous_days
    cross join settings
    where previous_days.days_back <= settings.volume_window_days
    group by previous_days.source_name, previous_days.logical_date
),

measured as (
    select
        with_last_published.*,
        usual.usual_rows_read,
        coalesce(usual.usual_days, 0) as usual_days
    from with_last_published
    left join usual
        on
            with_last_published.source_name = usual.source_name
            and with_last_published.logical_date = usual.logical_date
),

final as (
    select
        measured.source_name || '|' || measured.logical_date as scorecard_id,
        measured.source_name,
        measured.logical_date,
        measured.files_received,
        measured.files_published,
        measured.files_held_back,
        measured.rows_read,
        measured.rows_loaded,
        measured.rows_quarantined,
        case
            when measured.rows_read > 0
                then round(100.0 * (measured.rows_read - measured.rows_missing_required) / measured.rows_read, 2)
        end as completeness_pct,
        case
            when measured.rows_read > 0
                then round(100.0 * measured.rows_loaded / measured.rows_read, 2)
        end as validity_pct,
        measured.last_published_on,
        measured.logical_date - measured.last_published_on as days_since_last_published,
        measured.warn_after_days,
        measured.files_received = 0 as freshness_alert,
        coalesce(measured.logical_date - measured.last_published_on > measured.warn_after_days, true)
            as is_stale,
        round(cast(measured.usual_rows_read as numeric), 1) as usual_rows_read,
        measured.usual_days,
        case
            when measured.usual_rows_read > 0
                then round(cast(measured.rows_read / measured.usual_rows_read as numeric), 2)
        end as volume_ratio,
        coalesce(
            measured.files_received > 0
            and measured.usual_rows_read > 0
            and abs(measured.rows_read / measured.usual_rows_read - 1) > settings.volume_tolerance,
            false
        ) as volume_alert,
        measured.rows_person_unregistered
    from measured
    cross join settings
)

select * from final
