"""The county daily report: one HTML page per logical date, readable offline, from the marts.

``render_report(logical_date, db)`` writes ``<reports>/<YYYY-MM-DD>/index.html``
(``config.reports_dir()``, default ``var/reports``) and refreshes ``<reports>/index.html``,
the list of dates. Every figure comes from the marts and reporting views by SQL
(``collect_figures``); charts are matplotlib SVG written inline into the page, with
text kept as text, so the page needs no network, no script and no other file. Each
chart has a table of the same numbers next to it (for readers, screen readers and the
browser test), cells marked with ``data-*`` attributes.

Language: Simplified Chinese by default, English by configuration (``HM_LANGUAGE``, see
``household_monitoring.i18n``); every word of the page comes from the gettext catalog
``locale/<language>/LC_MESSAGES/report.po``, risk factor names from the seed ``risk_factors``
(national code list), dates in the language's form (Babel).

Font: the page embeds the subset of Noto Sans CJK SC its characters need (``fonts``), so Chinese
shows on a viewer with no Chinese font; a character the font lacks raises ``fonts.GlyphMissing``
and no page is written (matplotlib's "Glyph missing" warning is an error here, never silenced).

Sections (issue 6): open warnings by risk factor and level; open warnings by township
and level; open warnings per day over the last ``trend_days`` (seed ``reporting_settings``,
30) up to the date, starting on the first day the pipeline had data (the ledger's first
published batch: days before it are not drawn as zeros, the section says from when data
exists; view ``reporting.open_warnings_by_day``); overdue home visits
(awaiting a visit longer than the ``service_targets`` seed allows) by village, and the list
of them. Links: dbt docs (``generate_dbt_docs``, a self-contained page in
``<reports>/dbt-docs/index.html``) and the Great Expectations Data Docs (``quality``).

The marts must describe the date asked for: ``ReportError`` is raised when
``marts.fct_risk_warnings`` was built as of another date (the DAG builds the marts for
the run's logical date just before).
"""

from __future__ import annotations

import html
import io
import logging
import os
import re
import shutil
import string
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from household_monitoring import fonts
from household_monitoring.config import Database, data_docs_dir, reports_dir
from household_monitoring.i18n import N_, Translator, translator

log = logging.getLogger(__name__)

LEVEL_COLOURS = {"red": "#c0392b", "yellow": "#e6b800"}
LEVELS = ("red", "yellow")


class ReportError(RuntimeError):
    """The report cannot be written for this date (the marts describe another date)."""


@dataclass
class Figures:
    """What the report shows, as queried from the marts (counts are ints, dates ``date``)."""

    as_of_date: date
    by_factor: list[tuple[str, str, str, int]] = field(default_factory=list)  # factor code, factor, level, open
    by_township: list[tuple[str, str, str, int]] = field(default_factory=list)  # code, name, level, open
    trend: list[tuple[date, int]] = field(default_factory=list)  # day, open warnings that day
    first_data_day: date | None = None  # first day of the trend (None: no data yet)
    trend_days: int = 30  # the trend's window (seed reporting_settings), the as-of date included
    overdue_by_village: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    # township name, village code, village name, overdue visits, longest wait (days)
    overdue: list[tuple] = field(default_factory=list)
    # warning id, household id, village name, risk factor code, level, raised on, days awaiting
    households_below_line: list[tuple[str, int]] = field(default_factory=list)  # band, households
    total_open: int = 0

    @property
    def trend_cut(self) -> bool:
        """True when the trend starts later than ``trend_days`` ago because there was no data before."""
        return self.first_data_day is not None and self.first_data_day > self.as_of_date - timedelta(
            days=self.trend_days - 1
        )


def collect_figures(conn, logical_date: date) -> Figures:
    """Query the report's figures for ``logical_date`` from the marts and reporting views.

    The trend is ``reporting.open_warnings_by_day`` (the ``trend_days`` of seed ``reporting_settings`` up
    to the date, from the ledger's first published batch on: no zeros for days without data), the view
    the dashboard's line chart reads too.
    Raises ``ReportError`` when the marts were built as of another date.
    """
    built = conn.execute("select max(as_of_date) from marts.fct_risk_warnings").fetchone()[0]
    if built is not None and built != logical_date:
        raise ReportError(
            f"marts.fct_risk_warnings describes {built}, not {logical_date}: build the marts for the date first"
        )
    figures = Figures(as_of_date=logical_date)
    figures.by_factor = conn.execute(
        """select risk_factor_code, risk_factor, warning_level, sum(open_warnings)::int
           from reporting.warnings_by_village_factor
           group by 1, 2, 3 having sum(open_warnings) > 0
           order by 1, 3"""
    ).fetchall()
    figures.by_township = conn.execute(
        """select township_code, coalesce(township_name, township_code), warning_level, sum(open_warnings)::int
           from reporting.warnings_by_village_factor
           group by 1, 2, 3 having sum(open_warnings) > 0
           order by 1, 3"""
    ).fetchall()
    figures.total_open = conn.execute("select count(*) from marts.fct_risk_warnings where is_open").fetchone()[0]
    figures.trend_days = conn.execute("select trend_days from reference.reporting_settings").fetchone()[0]
    figures.trend = conn.execute(
        """select trend_day, sum(open_warnings)::int from reporting.open_warnings_by_day
           group by trend_day order by trend_day"""
    ).fetchall()
    figures.first_data_day = figures.trend[0][0] if figures.trend else None
    figures.overdue_by_village = conn.execute(
        """select coalesce(township_name, township_code), village_code, coalesce(village_name, village_code),
                  count(*)::int, max(days_awaiting_home_visit)::int
           from reporting.time_to_verification where is_overdue
           group by 1, 2, 3 order by 4 desc, 2"""
    ).fetchall()
    figures.overdue = conn.execute(
        """select warning_id, household_id, coalesce(village_name, village_code), risk_factor_code, warning_level,
                  raised_on, days_awaiting_home_visit
           from reporting.time_to_verification where is_overdue
           order by days_awaiting_home_visit desc, village_code, warning_id"""
    ).fetchall()
    figures.households_below_line = conn.execute(
        "select band, count(*)::int from reporting.households_below_line group by 1 order by 1"
    ).fetchall()
    return figures


# -- charts ----------------------------------------------------------------------------------------------------


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG (text as text, drawn by the browser in the embedded font)."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _grouped_bars(categories: list[str], keys: list[str], counts: dict[tuple[str, str], int], gid: str, t: Translator):
    """Bars of open warnings per category and level; each bar's SVG group id is ``<gid>-<key>-<level>``."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    _ = t.gettext
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(categories) + 2), 3.6))
    width = 0.38
    for offset, level in enumerate(LEVELS):
        xs = [i + (offset - 0.5) * width for i in range(len(keys))]
        heights = [counts.get((key, level), 0) for key in keys]
        bars = ax.bar(xs, heights, width, label=t.level(level), color=LEVEL_COLOURS[level])
        for key, bar in zip(keys, bars, strict=True):
            bar.set_gid(f"{gid}-{key}-{level}")
        ax.bar_label(bars, labels=[str(h) if h else "" for h in heights], padding=2, fontsize=9)
    ax.set_xticks(range(len(keys)), categories, rotation=20 if len(keys) > 3 else 0, ha="right")
    ax.set_ylabel(_("open warnings"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title=_("level"))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


#: At most this many dates under the trend chart (every day up to 8 days, then every 2nd, 3rd, ... day).
TREND_MAX_DATE_LABELS = 8


def _trend_ticks(days: list[date]) -> list[date]:
    """The days labelled under the trend: each day at most once, whole days only, the last day always.

    Every ``ceil(len(days) / TREND_MAX_DATE_LABELS)``-th day counted back from the last (the as-of date).
    matplotlib's ``AutoDateLocator`` put ticks every few hours on a trend of 2-3 days, each labelled
    with its date: the same date repeated (issue 13).
    """
    step = -(-len(days) // TREND_MAX_DATE_LABELS)
    return days[::-1][::step][::-1]


def _trend_y_ticks(top: int) -> list[int]:
    """Whole-number ticks of the trend's y axis, from 0 to the first tick above ``top`` (open warnings).

    The axis ends on a labelled tick with room above the highest point for its label (at least 10 %
    and one warning), so it is never cut under the line's last value nor, with no open warning at all,
    drawn from 0 to 0.05 with fractional ticks (matplotlib's default margins; issue 13).
    """
    from matplotlib.ticker import MaxNLocator

    ticks = MaxNLocator(nbins=6, integer=True).tick_values(0, max(top * 1.1, top + 1))
    return [int(tick) for tick in ticks if tick >= 0]


def _trend_chart(trend: list[tuple[date, int]], t: Translator):
    """Open warnings per day (``trend``: consecutive days, oldest first) as a line, in SVG group ``trend-line``."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    days = [day for day, _ in trend]
    values = [value for _, value in trend]
    (line,) = ax.plot(days, values, marker="o", markersize=3, color="#2c3e50")
    line.set_gid("trend-line")
    ax.annotate(str(values[-1]), (days[-1], values[-1]), textcoords="offset points", xytext=(4, 4), fontsize=9)
    ax.set_ylabel(t.gettext("open warnings"))
    y_ticks = _trend_y_ticks(max(values))
    ax.set_yticks(y_ticks)
    ax.set_ylim(0, y_ticks[-1])
    ax.set_xticks(_trend_ticks(days))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.set_xlim(mdates.date2num(days[0]) - 0.5, mdates.date2num(days[-1]) + 0.5)  # half a day either side
    fig.autofmt_xdate()
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _overdue_chart(rows: list[tuple[str, str, str, int, int]], t: Translator):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.35 * len(rows) + 1)))
    labels = [f"{village} ({code})" for _, code, village, _, _ in rows]
    values = [count for *_, count, _ in rows]
    bars = ax.barh(range(len(rows)), values, color="#8e44ad")
    for (_, code, *_), bar in zip(rows, bars, strict=True):
        bar.set_gid(f"overdue-{code}")
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(t.gettext("overdue home visits"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def render_charts(figures: Figures, t: Translator | None = None) -> dict[str, str]:
    """The report's charts as inline SVG strings, by section id (an empty section has no chart).

    Labels in ``t``'s language (default ``HM_LANGUAGE``), laid out with the report font. Raises
    ``fonts.GlyphMissing`` when a label has a character the font lacks (matplotlib's warning), and
    ``fonts.FontMissing`` when there is no font.
    """
    import matplotlib

    matplotlib.use("Agg")
    t = t or translator()
    font = fonts.configure_matplotlib()
    charts = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if figures.by_factor:
            factors = list(dict.fromkeys(code for code, _, _, _ in figures.by_factor))
            counts = {(code, level): n for code, _, level, n in figures.by_factor}
            categories = [f"{t.risk_factor(code)} ({code})" for code in factors]
            charts["by-factor"] = _svg(_grouped_bars(categories, factors, counts, "factor", t))
        if figures.by_township:
            townships = list(dict.fromkeys((code, name) for code, name, _, _ in figures.by_township))
            counts = {(code, level): n for code, _, level, n in figures.by_township}
            charts["by-township"] = _svg(
                _grouped_bars([name for _, name in townships], [code for code, _ in townships], counts, "township", t)
            )
        if figures.trend:
            charts["trend"] = _svg(_trend_chart(figures.trend, t))
        if figures.overdue_by_village:
            charts["overdue"] = _svg(_overdue_chart(figures.overdue_by_village, t))
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    if missing:
        raise fonts.GlyphMissing(f"chart labels: {missing[0]} ({font.family}, {font.path})")
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return charts


# -- page ------------------------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[tuple[str, dict[str, str]]]], table_id: str) -> str:
    """An HTML table; each cell is (text, data attributes)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for text, attrs in row:
            data = "".join(f' data-{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
            cells.append(f"<td{data}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _section(section_id: str, title: str, chart: str | None, table: str, empty: str, note: str = "") -> str:
    figure = f'<figure class="chart" id="chart-{section_id}">{chart}</figure>' if chart else ""
    note_html = f'<p class="note" id="note-{section_id}">{html.escape(note)}</p>' if note else ""
    content = figure + table if chart else f'<p class="empty">{html.escape(empty)}</p>' + table
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{note_html}{content}</section>'


STYLE = """
body{font-family:"Noto Sans CJK SC",sans-serif;margin:2rem auto;max-width:72rem;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}.sub{color:#666;margin-top:0}.note{color:#666}
table{border-collapse:collapse;margin:.6rem 0 1.6rem}td,th{border:1px solid #ccc;padding:.25rem .6rem}
td[data-count],td[data-days]{text-align:right}figure.chart{margin:0}figure.chart svg{max-width:100%;height:auto}
.kpi{display:flex;gap:2rem}.kpi div{font-size:1.4rem}.kpi span{display:block;font-size:.8rem;color:#666}
nav a{margin-right:1.2rem}
"""

#: Link id -> label of the report's navigation (translated when the page is written).
LINK_LABELS = {"daily-reports": N_("Daily reports"), "dbt-docs": N_("dbt docs"), "data-docs": N_("Data Docs")}


def _with_font(page: str, where: str) -> str:
    """``page`` with the report font's glyphs for its characters embedded (``fonts.embedded_font_css``).

    Raises ``fonts.GlyphMissing`` naming ``where`` when a character of the page has no glyph.
    """
    text = re.sub(r"<[^>]*>", " ", page)  # the text the reader sees, charts' labels included
    css = fonts.embedded_font_css(html.unescape(text) + string.printable, where)
    return page.replace("<style>", f"<style>{css}", 1)


def render_html(
    figures: Figures, charts: dict[str, str], links: dict[str, str | None], t: Translator | None = None
) -> str:
    """The report page (text), font included. ``links``: id (``LINK_LABELS``) -> relative URL, or ``None``.

    Raises ``fonts.GlyphMissing`` when a character of the page has no glyph in the report font.
    """
    t = t or translator()
    _ = t.gettext
    day = figures.as_of_date.isoformat()
    not_generated = _("{name}: not generated")
    nav = " ".join(
        f'<a id="link-{key}" href="{html.escape(url)}">{html.escape(_(LINK_LABELS[key]))}</a>'
        if url
        else f'<span id="link-{key}">{html.escape(not_generated.format(name=_(LINK_LABELS[key])))}</span>'
        for key, url in links.items()
    )
    by_factor = _table(
        [_("risk factor"), _("code"), _("level"), _("open warnings")],
        [
            [
                (t.risk_factor(code), {}),
                (code, {}),
                (t.level(level), {}),
                (str(n), {"factor": code, "level": level, "count": str(n)}),
            ]
            for code, _name, level, n in figures.by_factor
        ],
        "table-by-factor",
    )
    by_township = _table(
        [_("township"), _("code"), _("level"), _("open warnings")],
        [
            [
                (name, {}),
                (code, {}),
                (t.level(level), {}),
                (str(n), {"township": code, "level": level, "count": str(n)}),
            ]
            for code, name, level, n in figures.by_township
        ],
        "table-by-township",
    )
    trend = _table(
        [_("day"), _("open warnings")],
        [[(d.isoformat(), {}), (str(n), {"day": d.isoformat(), "count": str(n)})] for d, n in figures.trend],
        "table-trend",
    )
    overdue_villages = _table(
        [_("township"), _("village"), _("code"), _("overdue home visits"), _("longest wait (days)")],
        [
            [(tn, {}), (v, {}), (code, {}), (str(n), {"village": code, "count": str(n)}), (str(w), {"days": str(w)})]
            for tn, code, v, n, w in figures.overdue_by_village
        ],
        "table-overdue-by-village",
    )
    overdue_list = _table(
        [_("warning"), _("household"), _("village"), _("risk factor"), _("level"), _("raised on"), _("days awaiting")],
        [
            [
                (w, {"warning": w}),
                (h, {}),
                (v, {}),
                (t.risk_factor(f), {}),
                (t.level(lv), {}),
                (r.isoformat(), {}),
                (str(d), {"days": str(d)}),
            ]
            for w, h, v, f, lv, r, d in figures.overdue
        ],
        "table-overdue",
    )
    below = dict(figures.households_below_line)
    kpi_items = [
        ("kpi-open", figures.total_open, _("open warnings")),
        ("kpi-overdue", len(figures.overdue), _("overdue home visits")),
        ("kpi-below-line", below.get("below_line", 0), _("households below the monitoring line")),
        ("kpi-below-1-5x", below.get("below_1_5x_line", 0), _("households below 1.5 × the line")),
    ]
    kpis = '<div class="kpi">' + "".join(
        f'<div id="{kid}" data-count="{n}">{t.format_number(n)}<span>{html.escape(label)}</span></div>'
        for kid, n, label in kpi_items
    )
    kpis += "</div>"
    if figures.first_data_day is None:
        trend_note = _("No data has been loaded yet.")
    elif figures.trend_cut:
        trend_note = _("Data exists from {day}: the days before it are not shown.").format(
            day=t.format_date(figures.first_data_day)
        )
    else:
        trend_note = ""
    sections = [
        _section(
            "by-factor", _("Open warnings by risk factor and level"), charts.get("by-factor"), by_factor, _("None.")
        ),
        _section("by-township", _("Open warnings by township"), charts.get("by-township"), by_township, _("None.")),
        _section("trend", _("Open warnings over time"), charts.get("trend"), trend, _("No data."), trend_note),
        _section(
            "overdue",
            _("Overdue home visits by village"),
            charts.get("overdue"),
            overdue_villages + "<h3>" + html.escape(_("Overdue warnings")) + "</h3>" + overdue_list,
            _("No home visit is overdue."),
        ),
    ]
    title = _("County daily report")
    subtitle = _(
        "As of {day}. Figures from marts.fct_risk_warnings and the reporting views; households by register number only."
    ).format(day=t.format_date(figures.as_of_date))
    page = (
        f'<!DOCTYPE html>\n<html lang="{t.html_lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} {day}</title><style>{STYLE}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="sub" id="as-of" data-date="{day}">{html.escape(subtitle)}</p>'
        f"<nav>{nav}</nav>{kpis}{''.join(sections)}</body></html>\n"
    )
    return _with_font(page, f"county daily report {day}")


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def write_index(root: Path, t: Translator | None = None) -> Path:
    """``<root>/index.html``: the dates that have a report, newest first, and the documentation links."""
    t = t or translator()
    _ = t.gettext
    days = sorted((p.parent.name for p in root.glob("????-??-??/index.html")), reverse=True)
    items = "".join(f'<li><a href="{d}/index.html">{d}</a></li>' for d in days)
    docs = (
        f'<li><a href="dbt-docs/index.html">{html.escape(_(LINK_LABELS["dbt-docs"]))}</a></li>'
        if (root / "dbt-docs" / "index.html").exists()
        else ""
    )
    title = html.escape(_("County daily reports"))
    page = (
        f'<!DOCTYPE html>\n<html lang="{t.html_lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1><ul>{items}</ul>"
        "<h2>" + html.escape(_("Documentation")) + f"</h2><ul>{docs}</ul></body></html>\n"
    )
    path = root / "index.html"
    path.write_text(_with_font(page, str(path)), encoding="utf-8")
    return path


def generate_dbt_docs(db: Database, salt: str, root: Path | None = None) -> Path:
    """``dbt docs generate --static`` and copy the self-contained page to ``<root>/dbt-docs/index.html``.

    Returns the page's path. Raises ``DbtFailed`` when dbt fails.
    """
    from household_monitoring.config import DBT_PROJECT_DIR
    from household_monitoring.dbt import run_dbt

    root = root or reports_dir()
    run_dbt(["docs", "generate", "--static", "--no-compile"], db=db, salt=salt)
    target = Path(os.environ.get("HM_DBT_TARGET_PATH", DBT_PROJECT_DIR / "target"))
    out = root / "dbt-docs"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target / "static_index.html", out / "index.html")
    return out / "index.html"


def render_report(logical_date: date, db: Database, root: Path | None = None, language: str | None = None) -> Path:
    """Write the report of ``logical_date`` to ``<root>/<YYYY-MM-DD>/index.html``; return its path.

    ``root`` defaults to ``config.reports_dir()``, ``language`` to ``HM_LANGUAGE`` (then ``zh_CN``).
    Re-running a date rewrites the same file. Raises ``ReportError`` when the marts describe another
    date, ``fonts.GlyphMissing`` when a character has no glyph in the report font (nothing written),
    ``i18n.I18nError`` for an unknown language.
    """
    from household_monitoring.database import connect
    from household_monitoring.quality import data_docs_index

    t = translator(language)
    root = root or reports_dir()
    folder = root / logical_date.isoformat()
    with connect(db) as conn:
        figures = collect_figures(conn, logical_date)
    charts = render_charts(figures, t)
    dbt_docs = root / "dbt-docs" / "index.html"
    gx_docs = data_docs_index()
    links = {
        "daily-reports": "../index.html",
        "dbt-docs": _relative(dbt_docs, folder) if dbt_docs.exists() else None,
        # audit_day renders the Data Docs beside this task: their index appears by the run's end.
        "data-docs": _relative(gx_docs, folder) if gx_docs.exists() or data_docs_dir().exists() else None,
    }
    page = render_html(figures, charts, links, t)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    write_index(root, t)
    log.info("county daily report for %s: %s (%d open warnings)", logical_date, path, figures.total_open)
    return path
