"""The county daily report: one HTML page per logical date, readable offline, from the marts.

``render_report(logical_date, db)`` writes ``<reports>/<YYYY-MM-DD>/index.html``
(``config.reports_dir()``, default ``var/reports``) and refreshes ``<reports>/index.html``,
the list of dates. Every figure comes from the marts and reporting views by SQL
(``collect_figures``); charts are matplotlib SVG written inline into the page, with
text kept as text, so the page needs no network, no script and no other file. Each
chart has a table of the same numbers next to it (for readers, screen readers and the
browser test), cells marked with ``data-*`` attributes.

Sections (issue 6): open warnings by risk factor and level; open warnings by township
and level; open warnings per day over the ``TREND_DAYS`` days up to the date; overdue
home visits (awaiting a visit longer than the ``service_targets`` seed allows) by village,
and the list of them. Links: dbt docs (``generate_dbt_docs``, a self-contained page in
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
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from household_monitoring.config import Database, data_docs_dir, reports_dir

log = logging.getLogger(__name__)

#: Days shown in the trend chart (the date and the days before it).
TREND_DAYS = 30
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
    overdue_by_village: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    # township name, village code, village name, overdue visits, longest wait (days)
    overdue: list[tuple] = field(default_factory=list)
    # warning id, household id, village name, risk factor, level, raised on, days awaiting
    households_below_line: list[tuple[str, int]] = field(default_factory=list)  # band, households
    total_open: int = 0


def collect_figures(conn, logical_date: date) -> Figures:
    """Query the report's figures for ``logical_date`` from the marts and reporting views.

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
    first_day = logical_date - timedelta(days=TREND_DAYS - 1)
    figures.trend = conn.execute(
        """select day::date, count(warnings.warning_id)::int
           from generate_series(%s::date, %s::date, interval '1 day') as day
           left join marts.fct_risk_warnings as warnings
             on warnings.raised_on <= day
            and (warnings.lifted_on is null or warnings.lifted_on > day)
           group by day order by day""",
        (first_day, logical_date),
    ).fetchall()
    figures.overdue_by_village = conn.execute(
        """select coalesce(township_name, township_code), village_code, coalesce(village_name, village_code),
                  count(*)::int, max(days_awaiting_home_visit)::int
           from reporting.time_to_verification where is_overdue
           group by 1, 2, 3 order by 4 desc, 2"""
    ).fetchall()
    figures.overdue = conn.execute(
        """select warning_id, household_id, coalesce(village_name, village_code), risk_factor, warning_level,
                  raised_on, days_awaiting_home_visit
           from reporting.time_to_verification where is_overdue
           order by days_awaiting_home_visit desc, village_code, warning_id"""
    ).fetchall()
    figures.households_below_line = conn.execute(
        "select band, count(*)::int from reporting.households_below_line group by 1 order by 1"
    ).fetchall()
    return figures


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG (text as text: the browser draws it, CJK included)."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _grouped_bars(categories: list[str], keys: list[str], counts: dict[tuple[str, str], int], gid: str, title: str):
    """Bars of open warnings per category and level; each bar's SVG group id is ``<gid>-<key>-<level>``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(categories) + 2), 3.6))
    width = 0.38
    for offset, level in enumerate(LEVELS):
        xs = [i + (offset - 0.5) * width for i in range(len(keys))]
        heights = [counts.get((key, level), 0) for key in keys]
        bars = ax.bar(xs, heights, width, label=level, color=LEVEL_COLOURS[level])
        for key, bar in zip(keys, bars, strict=True):
            bar.set_gid(f"{gid}-{key}-{level}")
        ax.bar_label(bars, labels=[str(h) if h else "" for h in heights], padding=2, fontsize=9)
    ax.set_xticks(range(len(keys)), categories, rotation=20 if len(keys) > 3 else 0, ha="right")
    ax.set_ylabel("open warnings")
    ax.set_title(title)
    ax.legend(title="level")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _trend_chart(trend: list[tuple[date, int]]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    days = [day for day, _ in trend]
    values = [value for _, value in trend]
    (line,) = ax.plot(days, values, marker="o", markersize=3, color="#2c3e50")
    line.set_gid("trend-line")
    ax.annotate(str(values[-1]), (days[-1], values[-1]), textcoords="offset points", xytext=(4, 4), fontsize=9)
    ax.set_ylabel("open warnings")
    ax.set_title(f"Open warnings per day, {days[0]} .. {days[-1]}")
    ax.set_ylim(bottom=0)
    fig.autofmt_xdate()
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _overdue_chart(rows: list[tuple[str, str, str, int, int]]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.35 * len(rows) + 1)))
    labels = [f"{village} ({code})" for _, code, village, _, _ in rows]
    values = [count for *_, count, _ in rows]
    bars = ax.barh(range(len(rows)), values, color="#8e44ad")
    for (_, code, *_), bar in zip(rows, bars, strict=True):
        bar.set_gid(f"overdue-{code}")
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("overdue home visits")
    ax.set_title("Overdue home visits by village")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def render_charts(figures: Figures) -> dict[str, str]:
    """The report's charts as inline SVG strings, by section id (an empty section has no chart)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "household-monitoring"})
    # Glyphs the default font lacks (Chinese names) are measured approximately; the browser draws them.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import warnings

    charts = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if figures.by_factor:
            factors = list(dict.fromkeys((code, name) for code, name, _, _ in figures.by_factor))
            counts = {(code, level): n for code, _, level, n in figures.by_factor}
            charts["by-factor"] = _svg(
                _grouped_bars(
                    [f"{name} ({code})" for code, name in factors],
                    [code for code, _ in factors],
                    counts,
                    "factor",
                    "Open warnings by risk factor and level",
                )
            )
        if figures.by_township:
            townships = list(dict.fromkeys((code, name) for code, name, _, _ in figures.by_township))
            counts = {(code, level): n for code, _, level, n in figures.by_township}
            charts["by-township"] = _svg(
                _grouped_bars(
                    [name for _, name in townships],
                    [code for code, _ in townships],
                    counts,
                    "township",
                    "Open warnings by township and level",
                )
            )
        if figures.trend:
            charts["trend"] = _svg(_trend_chart(figures.trend))
        if figures.overdue_by_village:
            charts["overdue"] = _svg(_overdue_chart(figures.overdue_by_village))
    return charts


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


def _section(section_id: str, title: str, chart: str | None, table: str, empty: str) -> str:
    figure = f'<figure class="chart" id="chart-{section_id}">{chart}</figure>' if chart else ""
    content = figure + table if chart else f'<p class="empty">{html.escape(empty)}</p>' + table
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{content}</section>'


STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2rem auto;max-width:72rem;
color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0 1.6rem}td,th{border:1px solid #ccc;padding:.25rem .6rem}
td[data-count],td[data-days]{text-align:right}figure.chart{margin:0}figure.chart svg{max-width:100%;height:auto}
.kpi{display:flex;gap:2rem}.kpi div{font-size:1.4rem}.kpi span{display:block;font-size:.8rem;color:#666}
nav a{margin-right:1.2rem}
"""


def render_html(figures: Figures, charts: dict[str, str], links: dict[str, str | None]) -> str:
    """The report page (text). ``links``: label -> relative URL, or ``None`` when not generated."""
    day = figures.as_of_date.isoformat()
    nav = " ".join(
        f'<a id="link-{label.lower().replace(" ", "-")}" href="{html.escape(url)}">{html.escape(label)}</a>'
        if url
        else f"<span>{html.escape(label)}: not generated</span>"
        for label, url in links.items()
    )
    by_factor = _table(
        ["risk factor", "code", "level", "open warnings"],
        [
            [
                (name, {}),
                (code, {}),
                (level, {}),
                (str(n), {"factor": code, "level": level, "count": str(n)}),
            ]
            for code, name, level, n in figures.by_factor
        ],
        "table-by-factor",
    )
    by_township = _table(
        ["township", "code", "level", "open warnings"],
        [
            [(name, {}), (code, {}), (level, {}), (str(n), {"township": code, "level": level, "count": str(n)})]
            for code, name, level, n in figures.by_township
        ],
        "table-by-township",
    )
    trend = _table(
        ["day", "open warnings"],
        [[(d.isoformat(), {}), (str(n), {"day": d.isoformat(), "count": str(n)})] for d, n in figures.trend],
        "table-trend",
    )
    overdue_villages = _table(
        ["township", "village", "code", "overdue visits", "longest wait (days)"],
        [
            [(t, {}), (v, {}), (code, {}), (str(n), {"village": code, "count": str(n)}), (str(w), {"days": str(w)})]
            for t, code, v, n, w in figures.overdue_by_village
        ],
        "table-overdue-by-village",
    )
    overdue_list = _table(
        ["warning", "household", "village", "risk factor", "level", "raised on", "days awaiting"],
        [
            [
                (w, {"warning": w}),
                (h, {}),
                (v, {}),
                (f, {}),
                (lv, {}),
                (r.isoformat(), {}),
                (str(d), {"days": str(d)}),
            ]
            for w, h, v, f, lv, r, d in figures.overdue
        ],
        "table-overdue",
    )
    below = dict(figures.households_below_line)
    kpis = (
        f'<div class="kpi"><div id="kpi-open" data-count="{figures.total_open}">{figures.total_open}'
        "<span>open warnings</span></div>"
        f'<div id="kpi-overdue" data-count="{len(figures.overdue)}">{len(figures.overdue)}'
        "<span>overdue home visits</span></div>"
        f'<div id="kpi-below-line" data-count="{below.get("below_line", 0)}">{below.get("below_line", 0)}'
        "<span>households below the monitoring line</span></div>"
        f'<div id="kpi-below-1-5x" data-count="{below.get("below_1_5x_line", 0)}">{below.get("below_1_5x_line", 0)}'
        "<span>below 1.5 × the line</span></div></div>"
    )
    sections = [
        _section("by-factor", "Open warnings by risk factor and level", charts.get("by-factor"), by_factor, "None."),
        _section("by-township", "Open warnings by township", charts.get("by-township"), by_township, "None."),
        _section("trend", "Open warnings over time", charts.get("trend"), trend, "No data."),
        _section(
            "overdue",
            "Overdue home verifications by village",
            charts.get("overdue"),
            overdue_villages + "<h3>Overdue warnings</h3>" + overdue_list,
            "No home visit is overdue.",
        ),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>County daily report {day}</title><style>{STYLE}</style></head><body>"
        f'<h1>County daily report</h1><p class="sub" id="as-of" data-date="{day}">As of {day}. '
        "Figures from marts.fct_risk_warnings and the reporting views; households by register number only.</p>"
        f"<nav>{nav}</nav>{kpis}{''.join(sections)}</body></html>\n"
    )


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def write_index(root: Path) -> Path:
    """``<root>/index.html``: the dates that have a report, newest first, and the documentation links."""
    days = sorted((p.parent.name for p in root.glob("????-??-??/index.html")), reverse=True)
    items = "".join(f'<li><a href="{d}/index.html">{d}</a></li>' for d in days)
    docs = '<li><a href="dbt-docs/index.html">dbt docs</a></li>' if (root / "dbt-docs" / "index.html").exists() else ""
    path = root / "index.html"
    path.write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>County daily reports</title>'
        f"<style>{STYLE}</style></head><body><h1>County daily reports</h1><ul>{items}</ul>"
        f"<h2>Documentation</h2><ul>{docs}</ul></body></html>\n",
        encoding="utf-8",
    )
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


def render_report(logical_date: date, db: Database, root: Path | None = None) -> Path:
    """Write the report of ``logical_date`` to ``<root>/<YYYY-MM-DD>/index.html``; return its path.

    ``root`` defaults to ``config.reports_dir()``. Re-running a date rewrites the same file.
    Raises ``ReportError`` when the marts describe another date.
    """
    from household_monitoring.database import connect
    from household_monitoring.quality import data_docs_index

    root = root or reports_dir()
    folder = root / logical_date.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    with connect(db) as conn:
        figures = collect_figures(conn, logical_date)
    charts = render_charts(figures)
    dbt_docs = root / "dbt-docs" / "index.html"
    gx_docs = data_docs_index()
    links = {
        "Daily reports": "../index.html",
        "dbt docs": _relative(dbt_docs, folder) if dbt_docs.exists() else None,
        # audit_day renders the Data Docs beside this task: their index appears by the run's end.
        "Data Docs": _relative(gx_docs, folder) if gx_docs.exists() or data_docs_dir().exists() else None,
    }
    path = folder / "index.html"
    path.write_text(render_html(figures, charts, links), encoding="utf-8")
    write_index(root)
    log.info("county daily report for %s: %s (%d open warnings)", logical_date, path, figures.total_open)
    return path
