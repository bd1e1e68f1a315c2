-- The data-quality scorecard for BI tools: one row per source and logical date
-- (marts.fct_source_daily_scorecard), with the figures an auditor or analyst reads
-- first and one flag, needs_attention, that is true when a file was held back, the
-- source is stale or its volume is off.
with

scorecard as (
    select * from {{ ref('fct_source_daily_scorecard') }}
),

final as (
    select
        scorecard_id,
        logical_date,
        source_name,
        files_received,
        files_published,
        files_held_back,
        rows_read,
        rows_loaded,
        rows_quarantined,
        completeness_pct,
        validity_pct,
        last_published_on,
        days_since_last_published,
        freshness_alert,
        is_stale,
        usual_rows_read,
        volume_ratio,
        volume_alert,
        files_held_back > 0 or is_stale or coalesce(volume_alert, false) as needs_attention
    from scorecard
)

select * from final
