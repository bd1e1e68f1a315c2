-- The rules the lifecycle applies: seed risk_rules, with the thresholds of a what-if
-- run replacing those of the seed when var('risk_rule_overrides') names a rule
-- (a list of {rule_id, yellow_threshold, red_threshold}; an omitted threshold keeps
-- the seed's). Production runs have no overrides, so this is the seed as it is.
with

rules as (
    select * from {{ ref('risk_rules') }}
),

overrides as (
    {{ risk_rule_overrides() }}
),

final as (
    select
        rules.rule_id,
        rules.rule_version,
        rules.risk_factor_code,
        rules.risk_factor,
        rules.signal,
        coalesce(overrides.yellow_threshold, rules.yellow_threshold) as yellow_threshold,
        coalesce(overrides.red_threshold, rules.red_threshold) as red_threshold,
        rules.accumulation_window,
        rules.direction,
        rules.clears_automatically,
        rules.effective_from,
        rules.effective_to,
        overrides.rule_id is not null as is_overridden
    from rules
    left join overrides on rules.rule_id = overrides.rule_id
)

select * from final
