"""Each official's work list of a date, from the marts, and its renderings (HTML page, text, JSON).

``collect_worklists(conn, day)`` reads the assignments in force on ``day``
(``marts.fct_warning_assignments``: ``valid_from <= day < valid_to``), with each warning's
factor, level and raised-on date (``marts.fct_risk_warnings``), and the official's name,
role and email (``staging.stg_village_officials__officials``, the only personal data here:
the official's own). A duty whose post is vacant goes to the county officer of the
household's county (``intermediate.int_official_duty_spells``).

Sections of a list (issue 13):

- ``new``: assigned to the official on ``day`` (raised, confirmed, escalated or handed over);
- ``overdue``: due before ``day`` and not done;
- ``due``: the rest, due on or after ``day``.

Items carry the household number, village, risk factor, level, duty, raised-on and due-on
dates, never a resident ID or a resident's name. Texts go through ``i18n.translator()``
(catalog domain ``worklists``; Simplified Chinese by default, ``HM_LANGUAGE=en`` for English).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date

from household_monitoring.i18n import N_, Translator

SECTIONS = ("new", "due", "overdue")
SECTION_TITLES = {
    "new": N_("New today"),
    "due": N_("Due"),
    "overdue": N_("Overdue"),
}
DUTY_NAMES = {"home_visit": N_("home visit"), "assistance": N_("assistance")}
ROLE_NAMES = {
    "village_specialist": N_("village poverty-alleviation specialist"),
    "township_supervisor": N_("township supervisor"),
    "county_officer": N_("county office"),
}
REASON_NAMES = {
    "raised": N_("new warning"),
    "confirmed": N_("risk confirmed"),
    "escalated": N_("escalated"),
    "handover": N_("handed over"),
}


class WorklistError(RuntimeError):
    """No work list can go out for the date: the marts describe another date (build them for that
    date first), or a source sent files but never had one published (the warnings would be
    computed without it)."""


@dataclass(frozen=True)
class WorkItem:
    """One duty on an official's list: a warning of one household, what to do and by when."""

    section: str
    warning_id: str
    household_id: str
    village_code: str
    village_name: str
    risk_factor_code: str
    warning_level: str
    duty: str
    assigned_because: str
    post_vacant: bool
    raised_on: date
    assigned_on: date
    due_on: date


@dataclass
class WorkList:
    """The work list of one official on ``logical_date``; ``email`` is ``None`` when the roster has none."""

    logical_date: date
    official_id: str
    official_name: str
    role: str
    area_code: str
    area_name: str
    email: str | None
    items: list[WorkItem] = field(default_factory=list)

    def section(self, name: str) -> list[WorkItem]:
        """The items of section ``name`` (``new``, ``due``, ``overdue``), by due date then household."""
        return [item for item in self.items if item.section == name]

    def counts(self) -> dict[str, int]:
        """Items per section: ``{"new": n, "due": n, "overdue": n}``."""
        return {name: len(self.section(name)) for name in SECTIONS}


_QUERY = """
with held as (
    select *
    from marts.fct_warning_assignments
    where valid_from <= %(day)s and (valid_to is null or %(day)s < valid_to)
),

county_duty as (
    select area_code, official_id
    from intermediate.int_official_duty_spells
    where role = 'county_officer' and duty_from <= %(day)s and (duty_to is null or %(day)s < duty_to)
)

select
    coalesce(held.official_id, county_duty.official_id) as official_id,
    officials.official_name,
    officials.role,
    officials.area_code,
    coalesce(area.division_name, officials.area_code) as area_name,
    nullif(officials.email, '') as email,
    held.warning_id,
    held.household_id,
    held.village_code,
    coalesce(village.division_name, held.village_code) as village_name,
    warnings.risk_factor_code,
    warnings.warning_level,
    held.duty,
    held.assigned_because,
    held.official_id is null as post_vacant,
    warnings.raised_on,
    held.valid_from as assigned_on,
    held.due_on
from held
inner join marts.fct_risk_warnings as warnings on held.warning_id = warnings.warning_id
left join county_duty on held.official_id is null and county_duty.area_code = left(held.village_code, 6)
inner join staging.stg_village_officials__officials as officials
    on officials.official_id = coalesce(held.official_id, county_duty.official_id)
left join reference.admin_divisions as village on village.division_code = held.village_code
left join reference.admin_divisions as area on area.division_code = officials.area_code
order by 1, held.due_on, held.household_id, held.warning_id, held.duty
"""


def section_of(assigned_on: date, due_on: date, day: date) -> str:
    """``new`` when assigned on ``day``, else ``overdue`` when due before ``day``, else ``due``."""
    if assigned_on == day:
        return "new"
    return "overdue" if due_on < day else "due"


def collect_worklists(conn, day: date) -> list[WorkList]:
    """The work lists of ``day``, one per official with at least one duty, by official id.

    Raises ``WorklistError`` when a source sent files on or before ``day`` but none was
    published (a county's first days; a source that sent nothing yet, such as the home
    visits before the first warning, is not one), or when
    ``marts.fct_risk_warnings`` holds warnings built as of another date. Duties of a vacant
    post with no county officer either are on no list: they are counted in the log by
    ``publish`` (``unassigned_duties``).
    """
    never = [  # e.g. a county's first day with the employment file held back: every household lacks its wages
        source
        for (source,) in conn.execute(
            """select source from audit.load_batches where logical_date <= %s and status <> 'superseded'
               group by source having not bool_or(status = 'published') order by source""",
            (day,),
        )
    ]
    if never:
        raise WorklistError(
            f"no work list sent for {day}: {', '.join(never)} sent files up to {day} but none was published, "
            "so the warnings are computed without those sources (e.g. no employment: incomes far too low). "
            "Publish a good file for them (the ledger audit.load_batches says why theirs were held back), then "
            "run publish_worklists again"
        )
    built = conn.execute("select max(as_of_date) from marts.fct_risk_warnings").fetchone()[0]
    if built is not None and built != day:
        raise WorklistError(f"the marts are built as of {built}, not {day}: run build_marts for {day} first")
    lists: dict[str, WorkList] = {}
    for row in conn.execute(_QUERY, {"day": day}).fetchall():
        (official_id, name, role, area_code, area_name, email, *item) = row
        worklist = lists.get(official_id)
        if worklist is None:
            worklist = lists[official_id] = WorkList(day, official_id, name, role, area_code, area_name, email)
        (warning_id, household, village_code, village, factor, level, duty, because, vacant, raised, assigned, due) = (
            item
        )
        worklist.items.append(
            WorkItem(
                section_of(assigned, due, day),
                warning_id,
                household,
                village_code,
                village,
                factor,
                level,
                duty,
                because,
                vacant,
                raised,
                assigned,
                due,
            )
        )
    return list(lists.values())


def unassigned_duties(conn, day: date) -> int:
    """Duties in force on ``day`` on a vacant post whose county has no county officer either."""
    return conn.execute(
        """select count(*) from marts.fct_warning_assignments as held
           where held.official_id is null and held.valid_from <= %(day)s
             and (held.valid_to is null or %(day)s < held.valid_to)
             and not exists (
                 select from intermediate.int_official_duty_spells as spells
                 where spells.role = 'county_officer' and spells.official_id is not null
                   and spells.area_code = left(held.village_code, 6)
                   and spells.duty_from <= %(day)s and (spells.duty_to is null or %(day)s < spells.duty_to))""",
        {"day": day},
    ).fetchone()[0]


def _item_fields(item: WorkItem, t: Translator) -> dict[str, str]:
    _ = t.gettext
    note = _(REASON_NAMES[item.assigned_because])
    if item.post_vacant:
        note += _(" (post vacant)")
    return {
        "household": item.household_id,
        "village": item.village_name,
        "factor": t.risk_factor(item.risk_factor_code),
        "level": t.level(item.warning_level) if item.warning_level in ("red", "yellow") else item.warning_level,
        "duty": _(DUTY_NAMES[item.duty]),
        "raised_on": item.raised_on.isoformat(),
        "due_on": item.due_on.isoformat(),
        "note": note,
    }


def subject(worklist: WorkList, t: Translator) -> str:
    """The notification's subject line, e.g. ``2024-07-15 工作清单：新增 1，待办 0，逾期 0``."""
    counts = worklist.counts()
    return t.gettext("Work list {day}: {new} new, {due} due, {overdue} overdue").format(
        day=worklist.logical_date.isoformat(), **counts
    )


def render_text(worklist: WorkList, t: Translator) -> str:
    """The plain-text body of the email: one line per item, by section."""
    _ = t.gettext
    lines = [
        _("{role} {name} ({area}), work list of {day}").format(
            role=_(ROLE_NAMES[worklist.role]),
            name=worklist.official_name,
            area=worklist.area_name,
            day=t.format_date(worklist.logical_date),
        ),
        "",
    ]
    for name in SECTIONS:
        items = worklist.section(name)
        lines.append(f"{_(SECTION_TITLES[name])} ({len(items)})")
        for item in items:
            f = _item_fields(item, t)
            lines.append(
                "  "
                + _(
                    "household {household}, {village}: {factor}, {level}; {duty} due on {due_on} "
                    "(raised on {raised_on}; {note})"
                ).format(**f)
            )
        lines.append("")
    lines.append(_("Households are named by register number only."))
    return "\n".join(lines) + "\n"


def render_html(worklist: WorkList, t: Translator) -> str:
    """The offline page of the list (the county report's style; no script, no network)."""
    from household_monitoring.report import STYLE

    _ = t.gettext
    day = worklist.logical_date.isoformat()
    headers = [_("household"), _("village"), _("risk factor"), _("level"), _("duty"), _("raised on"), _("due on")]
    headers.append(_("note"))
    none = _("None.")
    footer = _("Households are named by register number only.")
    sections = []
    for name in SECTIONS:
        items = worklist.section(name)
        rows = []
        for item in items:
            f = _item_fields(item, t)
            attrs = (
                f' data-warning="{html.escape(item.warning_id)}" data-household="{html.escape(item.household_id)}"'
                f' data-duty="{item.duty}" data-due="{item.due_on.isoformat()}"'
            )
            cells = "".join(
                f"<td>{html.escape(f[k])}</td>"
                for k in ("household", "village", "factor", "level", "duty", "raised_on", "due_on", "note")
            )
            rows.append(f"<tr{attrs}>{cells}</tr>")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = (
            f'<table id="table-{name}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            if rows
            else f'<p class="empty">{html.escape(none)}</p>'
        )
        title = html.escape(_(SECTION_TITLES[name]))
        sections.append(
            f'<section id="{name}" data-count="{len(items)}"><h2>{title} ({len(items)})</h2>{body}</section>'
        )
    heading = _("Work list of {name}").format(name=worklist.official_name)
    sub = _("{role}, {area}. As of {day}.").format(
        role=_(ROLE_NAMES[worklist.role]), area=worklist.area_name, day=t.format_date(worklist.logical_date)
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{t.html_lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(heading)} {day}</title><style>{STYLE}</style></head><body>"
        f'<h1>{html.escape(heading)}</h1><p class="sub" id="as-of" data-date="{day}"'
        f' data-official="{html.escape(worklist.official_id)}">{html.escape(sub)}</p>'
        f"{''.join(sections)}"
        f'<p class="sub">{html.escape(footer)}</p></body></html>\n'
    )


def render_payload(worklist: WorkList, t: Translator) -> dict:
    """The webhook's JSON body: official id (no name), counts and items (no resident ID or name)."""
    return {
        "type": "household_monitoring.worklist",
        "logical_date": worklist.logical_date.isoformat(),
        "official_id": worklist.official_id,
        "role": worklist.role,
        "area_code": worklist.area_code,
        "language": t.language,
        "title": subject(worklist, t),
        "counts": worklist.counts(),
        "items": [
            {
                "section": item.section,
                "warning_id": item.warning_id,
                "household_id": item.household_id,
                "village_code": item.village_code,
                "village": item.village_name,
                "risk_factor_code": item.risk_factor_code,
                "risk_factor": t.risk_factor(item.risk_factor_code),
                "level": item.warning_level,
                "duty": item.duty,
                "assigned_because": item.assigned_because,
                "raised_on": item.raised_on.isoformat(),
                "due_on": item.due_on.isoformat(),
            }
            for item in worklist.items
        ],
    }
