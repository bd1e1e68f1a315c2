-- Household income as signals for rule INCOME_BELOW_LINE: annual per-capita net
-- income over the 12 months ending on each as-of date, as a multiple of that date's
-- monitoring line (seed monitoring_lines), one row per household on the first
-- as-of date and on each date the multiple changed. The rule's thresholds (seed
-- risk_rules: below 1.00 red, below 1.50 yellow) apply to this multiple.
-- Read from the income changes (int_household_income_changes: a row where anything
-- changed), not from one row per household per day: the same dates, far fewer rows.
with

income as (
    select * from {{ ref('int_household_income_changes') }}
),

measured as (
    select
        household_id,
        valid_from as as_of_date,
        per_capita_net_income / nullif(monitoring_line, 0) as line_multiple
    from income
    where valid_from <= {{ as_of_date() }} and is_registered and monitoring_line is not null
),

changes as (
    select
        *,
        lag(line_multiple) over (partition by household_id order by as_of_date) as line_multiple_before
    from measured
),

final as (
    select
        household_id,
        as_of_date as event_date,
        line_multiple as signal_value,
        array[household_id || '|' || as_of_date] as evidence_ids
    from changes
    where line_multiple_before is null or line_multiple is distinct from line_multiple_before
)

select * from final
