"""What-if: the warning rules with changed thresholds, replayed over history, beside production.

An analyst asks, for example, "had red illness been 2,500 yuan instead of 3,000 over the
last year, how many red warnings would we have raised, which households would have been
added and which removed?". :func:`run_what_if` answers it without touching a production
table:

1. ``dbt parse`` writes the production manifest (schemas unprefixed) to a state folder;
2. ``dbt run --select int_risk_rules_in_force+ --defer --favor-state`` rebuilds only the
   rules and everything downstream of them (the lifecycle walk, the warnings, the
   household risk and area marts) into schemas ``whatif_<name>_<schema>``
   (macro ``generate_schema_name``, var ``schema_prefix``), reading every other model,
   seed and source from production; the thresholds come from var ``risk_rule_overrides``
   (model ``int_risk_rules_in_force``); the as-of date is production's, so both sides
   see the same data;
3. the warnings reaching each level within the date range are compared, per risk
   factor and level, with production's: in force, what-if, added, removed.

The what-if schemas stay for the analyst to query and are replaced by the next run of
the same name; :func:`drop_what_if` removes them.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from household_monitoring import config
from household_monitoring.config import Database
from household_monitoring.database import connect

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_RULE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_LEVEL_KEYS = {"yellow": "yellow_threshold", "red": "red_threshold"}
#: The schemas a what-if run may rebuild (prefixed); production's are never written.
_SCHEMAS = ("staging", "intermediate", "marts", "reference", "reporting")


class WhatIfError(ValueError):
    """A what-if request that cannot run: bad name, rule, threshold or dates, or no production marts."""


@dataclass(frozen=True)
class ThresholdChange:
    """One changed threshold: ``rule_id`` (seed risk_rules), ``level`` yellow|red, ``value``
    in the rule's unit (yuan for illness, a multiple of the line for income, a level otherwise)."""

    rule_id: str
    level: str
    value: str

    @classmethod
    def parse(cls, text: str) -> ThresholdChange:
        """Parse ``RULE.level=value`` (e.g. ``ILLNESS_OOP.red=2500``); raises :class:`WhatIfError`."""
        match = re.fullmatch(r"([A-Za-z0-9_]+)\.(yellow|red)=(-?[0-9]{1,12}(?:\.[0-9]{1,2})?)", text.strip())
        if not match:
            raise WhatIfError(
                f"threshold change {text!r}: expected RULE.yellow=VALUE or RULE.red=VALUE, the value a number "
                "of at most 12 digits and 2 decimals (thresholds are numeric(14,2))"
            )
        rule, level, value = match.groups()
        if not _RULE.match(rule):
            raise WhatIfError(f"threshold change {text!r}: rule ids are upper case (seed risk_rules)")
        return cls(rule, level, value)


@dataclass
class WhatIfReport:
    """The comparison: ``rows`` of dicts (risk_factor, level, in_force, what_if, added, removed)
    and ``changes`` (household_id, rule_id, risk_factor, level, reached_on, change added|removed),
    for warnings reaching a level between ``start`` and ``end`` (inclusive)."""

    name: str
    as_of: date
    start: date
    end: date
    overrides: list[dict]
    rows: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    report_dir: Path | None = None

    @property
    def schema(self) -> str:
        """Schema of the what-if marts (``whatif_<name>_marts``)."""
        return f"whatif_{self.name}_marts"

    def render(self) -> str:
        """A plain-text table of ``rows``."""
        head = f"{'risk factor':<22} {'level':<7} {'in force':>9} {'what-if':>9} {'added':>7} {'removed':>8}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r['risk_factor']:<22} {r['level']:<7} {r['in_force']:>9} {r['what_if']:>9} "
                f"{r['added']:>7} {r['removed']:>8}"
            )
        return "\n".join(lines)


def overrides_for(changes: list[ThresholdChange]) -> list[dict]:
    """``risk_rule_overrides`` for dbt: one dict per rule with the changed thresholds."""
    by_rule: dict[str, dict] = {}
    for change in changes:
        by_rule.setdefault(change.rule_id, {"rule_id": change.rule_id})[_LEVEL_KEYS[change.level]] = change.value
    return list(by_rule.values())


_COMPARE = """
with
in_force as (
    select distinct household_id, rule_id, risk_factor, level_after as level, event_date as reached_on
    from marts.fct_risk_warning_events
    where transition in ('raised', 'escalated') and event_date between %(start)s and %(end)s
),
what_if as (
    select distinct household_id, rule_id, risk_factor, level_after as level, event_date as reached_on
    from {schema}.fct_risk_warning_events
    where transition in ('raised', 'escalated') and event_date between %(start)s and %(end)s
),
added as (select * from what_if except select * from in_force),
removed as (select * from in_force except select * from what_if)
select 'added' as change, * from added
union all
select 'removed' as change, * from removed
order by risk_factor, level, reached_on, household_id, change
"""

_COUNTS = """
select risk_factor, level_after, count(distinct (household_id, rule_id, event_date))
from {schema}.fct_risk_warning_events
where transition in ('raised', 'escalated') and event_date between %(start)s and %(end)s
group by 1, 2
"""


def production_as_of(db: Database) -> date:
    """The as-of date of the production marts; raises :class:`WhatIfError` when they are not built."""
    with connect(db) as conn:
        if conn.execute("select to_regclass('marts.fct_risk_warnings')").fetchone()[0] is None:
            raise WhatIfError("production marts not built yet (run the pipeline first)")
        as_of = conn.execute("select max(as_of_date) from marts.fct_risk_warnings").fetchone()[0]
    if as_of is None:
        raise WhatIfError("production marts hold no warnings yet (run the pipeline first)")
    return as_of


def run_what_if(
    db: Database, changes: list[ThresholdChange], start: date, end: date, *, name: str, salt: str
) -> WhatIfReport:
    """Replay the rules with ``changes`` and compare with production over ``start``..``end``.

    Writes only schemas ``whatif_<name>_*`` and ``var/whatif/<name>/`` (report.csv,
    changes.csv, report.json, dbt's target). Raises :class:`WhatIfError` for a bad name,
    an empty or unknown change, ``start`` after ``end``, or a warehouse without marts;
    ``DbtFailed`` if dbt fails.
    """
    from household_monitoring.dbt import run_dbt

    if not _NAME.match(name):
        raise WhatIfError(f"what-if name {name!r}: lower-case letters, digits and _ (at most 31)")
    if not changes:
        raise WhatIfError("no threshold change given")
    if start > end:
        raise WhatIfError(f"the range starts ({start}) after it ends ({end})")
    as_of = production_as_of(db)
    overrides = overrides_for(changes)
    with connect(db) as conn:
        rules = conn.execute(
            "select rule_id, rule_version, direction, yellow_threshold, red_threshold from reference.risk_rules"
        ).fetchall()
    known = {rule_id for rule_id, *_ in rules}
    unknown = sorted({c.rule_id for c in changes} - known)
    if unknown:
        raise WhatIfError(f"unknown rule(s) {', '.join(unknown)}; seed risk_rules has {', '.join(sorted(known))}")
    by_rule = {o["rule_id"]: o for o in overrides}
    for rule_id, version, direction, yellow, red in rules:
        if rule_id not in by_rule:
            continue
        yellow = Decimal(by_rule[rule_id].get("yellow_threshold", yellow))
        red = Decimal(by_rule[rule_id].get("red_threshold", red))
        if (direction == "above" and red < yellow) or (direction == "below" and red > yellow):
            raise WhatIfError(
                f"{rule_id} version {version}: yellow {yellow} and red {red} are in the wrong order for a signal "
                f"that warns {direction} them (red must be {'at or above' if direction == 'above' else 'at or below'}"
                " yellow)"
            )
    if start > as_of:
        raise WhatIfError(f"the range {start} .. {end} starts after the data: production marts are as of {as_of}")
    folder = config.var_dir() / "whatif" / name
    state, target = folder / "production_state", folder / "target"
    drop_what_if(db, name)
    run_dbt(["parse"], db=db, salt=salt, target_path=state)
    variables = {"as_of_date": as_of.isoformat(), "risk_rule_overrides": overrides, "schema_prefix": f"whatif_{name}"}
    run_dbt(
        [
            "run",
            "--select",
            "int_risk_rules_in_force+",
            "--defer",
            "--favor-state",
            "--state",
            str(state),
            "--vars",
            json.dumps(variables),
        ],
        db=db,
        salt=salt,
        target_path=target,
    )
    _grant_usage(db, name)
    report = WhatIfReport(name=name, as_of=as_of, start=start, end=end, overrides=overrides, report_dir=folder)
    params = {"start": start, "end": end}
    with connect(db) as conn:
        base = {(f, lv): n for f, lv, n in conn.execute(_COUNTS.format(schema="marts"), params).fetchall()}
        alt = {(f, lv): n for f, lv, n in conn.execute(_COUNTS.format(schema=report.schema), params).fetchall()}
        columns = ["change", "household_id", "rule_id", "risk_factor", "level", "reached_on"]
        report.changes = [
            dict(zip(columns, row, strict=True))
            for row in conn.execute(_COMPARE.format(schema=report.schema), params).fetchall()
        ]
    changed = Counter((c["risk_factor"], c["level"], c["change"]) for c in report.changes)
    for factor, level in sorted(set(base) | set(alt)):
        report.rows.append(
            {
                "risk_factor": factor,
                "level": level,
                "in_force": base.get((factor, level), 0),
                "what_if": alt.get((factor, level), 0),
                "added": changed[(factor, level, "added")],
                "removed": changed[(factor, level, "removed")],
            }
        )
    _write(report)
    return report


def _write(report: WhatIfReport) -> None:
    folder = report.report_dir
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, rows in (("report.csv", report.rows), ("changes.csv", report.changes)):
        with (folder / file_name).open("w", newline="", encoding="utf-8") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    (folder / "report.json").write_text(
        json.dumps(
            {
                "name": report.name,
                "as_of": report.as_of.isoformat(),
                "start": report.start.isoformat(),
                "end": report.end.isoformat(),
                "overrides": report.overrides,
                "schema": report.schema,
                "rows": report.rows,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )


def _grant_usage(db: Database, name: str) -> None:
    """Let ``analyst`` into the what-if schemas (dbt grants select on the tables, not usage on schemas)."""
    with connect(db) as conn:
        if conn.execute("select 1 from pg_roles where rolname = 'analyst'").fetchone() is None:
            return
        for (schema,) in conn.execute(
            "select nspname from pg_namespace where nspname like %s", (f"whatif\\_{name}\\_%",)
        ).fetchall():
            conn.execute(f'grant usage on schema "{schema}" to analyst')


def drop_what_if(db: Database, name: str) -> list[str]:
    """Drop the schemas of what-if ``name`` (``whatif_<name>_*``); returns the schemas dropped."""
    if not _NAME.match(name):
        raise WhatIfError(f"what-if name {name!r}: lower-case letters, digits and _ (at most 31)")
    dropped = []
    with connect(db) as conn:
        for schema in _SCHEMAS:
            full = f"whatif_{name}_{schema}"
            exists = conn.execute("select 1 from pg_namespace where nspname = %s", (full,)).fetchone()
            if exists:
                conn.execute(f'drop schema "{full}" cascade')
                dropped.append(full)
        conn.commit()
    return dropped
