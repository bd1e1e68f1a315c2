"""Issue 6, the BI tool: Superset provisioned from the repository shows the marts' figures in Chromium.

One module-scoped county in a database of its own (150 random households plus the scenario households,
the real DAG runs for D1, D2 and REPORT_DATE), then Superset from ``superset/`` exactly as
``hm superset start`` runs it: its own environment (installed once, stamp), the test instance's metadata
database under ``var/superset-test`` (initialised once per version, reused), provisioning through
Superset's asset import with the connection as ``analyst``, the web server on a free loopback port.
A headless Chromium (the ``browser`` fixture: Playwright on the system's Chromium) logs in through the
login form as a user would, opens the dashboard, waits until every chart has drawn, and reads the figures
off the page; each chart must show exactly the rows a SQL query on the reporting views returns as the
analyst.

Without Chromium the module is skipped, unless ``HM_REQUIRE_BROWSER=1`` (CI), where
it fails instead. The first run on a machine costs the Superset install (~20 s with a warm uv cache,
~2 min cold) and initialisation (~30 s); later runs ~15 s for Superset plus the county.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from household_monitoring import superset
from household_monitoring.database import connect, create_database, drop_database, migrate
from household_monitoring.local_runs import airflow_environment, ensure_airflow_db, run_dags
from household_monitoring.sample_data.generator import D1, D2, generate_county

pytestmark = pytest.mark.e2e
if os.environ.get("HM_SUPERSET_TESTS") != "1":
    # Opt-in for CI's budget: it passes (the login race that kept charts from drawing is fixed), but it builds a
    # county of its own through three DAG runs and installs Superset, ~10 minutes alone, and a clean-clone run of
    # the whole suite with it took over 40 minutes here. Run: HM_SUPERSET_TESTS=1 python3 dev.py test tests/superset
    pytest.skip("the Superset dashboard test is opt-in: set HM_SUPERSET_TESTS=1", allow_module_level=True)
REPORT_DATE = date(2024, 7, 22)
CHART_TIMEOUT_S = 120

#: chart name on the dashboard -> SQL (as analyst) whose rows, formatted as the chart formats them, the chart
#: must show (as a multiset: ties in the chart's sort order may come in any order). Big numbers: one value.
CHART_QUERIES: dict[str, str] = {
    "Open warnings": "select sum(open_warnings)::bigint from reporting.warnings_by_village_factor",
    "Households below the monitoring line": (
        "select count(*) from reporting.households_below_line where band = 'below_line'"
    ),
    "Overdue home visits": "select count(*) filter (where is_overdue) from reporting.time_to_verification",
    "Open warnings by risk factor and level": """
        select risk_factor_name, warning_level_name, sum(open_warnings)::bigint, sum(awaiting_verification)::bigint,
               sum(warnings_raised)::bigint
        from reporting.warnings_by_village_factor group by 1, 2""",
    "Open warnings by village": """
        select township_name, village_name, sum(open_warnings)::bigint, sum(awaiting_verification)::bigint
        from reporting.warnings_by_village_factor group by 1, 2""",
    "Households below 1.5 x the line": """
        select household_id, township_name, village_name, household_size, per_capita_net_income, monitoring_line,
               gap_to_monitoring_line, band
        from reporting.households_below_line""",
    "Time to home verification by risk factor": """
        select risk_factor_name, warning_level_name, count(*), count(visited_on),
               count(*) filter (where visited_on is not null and is_late), count(*) filter (where is_overdue),
               max(days_to_home_visit)
        from reporting.time_to_verification group by 1, 2""",
    "Overdue home visits: the list": """
        select household_id, township_name, village_name, risk_factor_name, warning_level_name, raised_on,
               days_awaiting_home_visit, target_days
        from reporting.time_to_verification where is_overdue""",
    "Sources needing attention": """
        select count(*) filter (where needs_attention) from reporting.data_quality_scorecard
        where logical_date = (select max(logical_date) from reporting.data_quality_scorecard)""",
    "Data-quality scorecard, latest day": """
        select logical_date, source_name, files_received, files_published, files_held_back, rows_read, rows_loaded,
               rows_quarantined, completeness_pct, validity_pct, days_since_last_published
        from reporting.data_quality_scorecard
        where logical_date = (select max(logical_date) from reporting.data_quality_scorecard)""",
}


#: The dashboard's charts (ECharts, drawn on a canvas): chart name -> SQL (as analyst) giving (x, series, value),
#: which must be exactly the data the chart received from Superset (its /api/v1/chart/data answer).
PLOT_QUERIES: dict[str, str] = {
    "Open warnings by risk factor and level, chart": """
        select risk_factor_name, warning_level_name, sum(open_warnings)::bigint
        from reporting.warnings_by_village_factor group by 1, 2""",
    "Open warnings by township and level": """
        select township_name, warning_level_name, sum(open_warnings)::bigint
        from reporting.warnings_by_village_factor group by 1, 2""",
    "Open warnings over time": """
        select trend_day, warning_level_name, sum(open_warnings)::bigint
        from reporting.open_warnings_by_day group by 1, 2""",
    "Households below the line by village": """
        select village_name, band_name, count(*) from reporting.households_below_line group by 1, 2""",
}


def _shown_name(name: str) -> str:
    """A chart's name as the dashboard shows it: translated at provisioning (HM_LANGUAGE, default zh_CN)."""
    from household_monitoring.i18n import translator

    return translator().gettext(name)


@pytest.fixture(scope="module")
def county_db(browser, server, var_dir, tmp_path_factory):
    """A database with the county built by three DAG runs; its own landing zone.

    Asks for ``browser`` first, so a machine without Chromium skips (or, under HM_REQUIRE_BROWSER=1,
    fails) before the minutes of building the county.
    """
    name = f"hm_test_{secrets.token_hex(4)}"
    db = create_database(server, name)
    try:
        with connect(db) as conn:
            migrate(conn)
        landing = tmp_path_factory.mktemp("landing_superset")
        generate_county(landing, households=150, start=D1, end=REPORT_DATE)
        env = {**airflow_environment(db), "HM_LANDING_DIR": str(landing)}
        log = var_dir / "airflow_superset.log"
        ensure_airflow_db(env, log)
        runs = list(run_dags([D1, D2, REPORT_DATE], env, log))
        assert [run.code for run in runs] == [0, 0, 0], log.read_text(encoding="utf-8")[-3000:]
        yield db
    finally:
        drop_database(server, name)


@pytest.fixture(scope="module")
def analyst(county_db):
    """A connection as the role Superset uses, so the expected figures are what the analyst may read."""
    analyst_db = county_db.as_user(superset.ANALYST_ROLE, os.environ.get(superset.ANALYST_PASSWORD_VARIABLE, ""))
    with psycopg.connect(analyst_db.url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def superset_url(county_db):
    """The test instance provisioned against the county and running on a free port; stopped after."""
    instance = superset.Instance.named("superset-test")
    instance.stop()  # a server left behind by an interrupted run
    dashboard = instance.provision(county_db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = instance.start(port)
    try:
        yield url, dashboard, instance.admin_password()
    finally:
        instance.stop()


READ_CHARTS_JS = """() => {
const charts = {};
for (const el of document.querySelectorAll('[data-test="chart-grid-component"]')) {
  const name = el.getAttribute('data-test-chart-name');
  const viz = el.getAttribute('data-test-viz-type');
  const error = el.querySelector('[role="alert"], .alert, [data-test="error-message"]');
  const chart = {viz: viz, id: el.getAttribute('data-test-chart-id'), error: error ? error.textContent.trim() : null,
                 header: [], rows: null, canvas: null};
  if (viz && viz.startsWith('echarts')) {
    const canvas = el.querySelector('canvas');
    if (canvas && canvas.width > 100 && canvas.height > 100) chart.canvas = [canvas.width, canvas.height];
  } else if (el.querySelector('.chart-container .ant-empty')) {
    chart.rows = [];  // "No results were returned for this query"
  } else if (viz === 'big_number_total') {
    const line = el.querySelector('.header-line');
    if (line) chart.rows = [[line.textContent.trim()]];
  } else {
    const body = el.querySelector('tbody');
    if (body) {
      chart.header = Array.from(el.querySelectorAll('thead th')).map(th => th.textContent.trim());
      chart.rows = Array.from(body.querySelectorAll('tr')).map(
        tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent.trim()));
    }
  }
  charts[name] = chart;
}
return charts;
}"""


def _fmt(value) -> str:
    """A value as the charts print it: counts with thousands commas, yuan with two decimals, dates ISO."""
    if value is None:
        return "N/A"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _expected(analyst) -> dict[str, list[list[str]]]:
    return {
        name: [[_fmt(v) for v in row] for row in analyst.execute(query).fetchall()]
        for name, query in CHART_QUERIES.items()
    }


def _open_dashboard(page, url: str, path: str, password: str) -> None:
    """Log in through the login form, as a user would, and open the dashboard at ``path``.

    A request the login page sent before the login and Superset 6.1 redirects to ``/login/`` for an
    anonymous user (its event log, ``/superset/log/``; its language pack too until provisioning let
    the Public role read it) can be answered after the login: that answer's anonymous session cookie
    replaces the new one, the browser is logged out again and the dashboard's URL leads back to the
    login page. That was CI's "no chart drew" (no chart was on the page); reproduced here by answering
    such a request after the login. A user then signs in again: so do we, up to 3 times. Waiting for
    the login page's own requests before sending the form makes it rare. Raises ``AssertionError``
    naming the page when still logged out after 3 tries.
    """
    for _attempt in range(3):
        page.goto(f"{url}/login/", wait_until="networkidle")
        page.fill("#username", superset.ADMIN_USER)
        page.fill("#password", password)
        page.click("[data-test='login-button']")
        page.wait_for_load_state("networkidle")
        if "/login" in page.url:
            continue
        page.goto(f"{url}{path}")
        if "/login" not in page.url:
            return
    raise AssertionError(f"could not open {url}{path} as {superset.ADMIN_USER}: still on {page.url}")


def _read_dashboard(browser, url: str, path: str, password: str) -> tuple[dict, dict]:
    """Log in, open the dashboard, wait until every chart drew (or one shows an error).

    Returns the charts as read off the page (by shown name) and the data Superset sent each chart, by
    chart id (the answers to the dashboard's ``/api/v1/chart/data`` requests).
    """
    context = browser.new_context(viewport={"width": 1600, "height": 3200})
    data: dict[str, dict] = {}

    def keep(response) -> None:
        if "/api/v1/chart/data" not in response.url or response.request.method != "POST":
            return
        form = json.loads(response.request.post_data or "{}").get("form_data") or {}
        if form.get("slice_id") is None:  # else in the URL: ?form_data={"slice_id": N}
            query = parse_qs(urlsplit(response.url).query).get("form_data", ["{}"])[0]
            form = json.loads(query)
        if response.ok and form.get("slice_id") is not None:
            data[str(form["slice_id"])] = response.json()

    tables = {_shown_name(n) for n in CHART_QUERIES}
    plots = {_shown_name(n) for n in PLOT_QUERIES}
    try:
        page = context.new_page()
        page.on("response", keep)
        _open_dashboard(page, url, path, password)
        deadline = time.monotonic() + CHART_TIMEOUT_S
        while True:
            charts = page.evaluate(READ_CHARTS_JS)
            if any(c["error"] for c in charts.values()):
                return charts, data  # the assertions name the chart and its error
            if (
                tables | plots <= set(charts)
                and all(charts[n]["rows"] is not None for n in tables)
                and all(charts[n]["canvas"] and charts[n]["id"] in data for n in plots)
            ):
                page.wait_for_timeout(500)
                charts["__fonts__"] = _fonts_of_chinese_text(page)
                return charts, data
            if time.monotonic() > deadline:
                drawn = sorted(n for n, c in charts.items() if c["rows"] is not None or c["canvas"])
                raise AssertionError(f"after {CHART_TIMEOUT_S} s on {page.url} only these charts drew: {drawn}")
            time.sleep(0.5)
    finally:
        context.close()


CJK = re.compile(r"[\u4e00-\u9fff]")


def _fonts_of_chinese_text(page) -> list[tuple[str, list[str]]]:
    """``[(text, [font families Chromium drew it with])]`` for every element whose own text has Chinese.

    Asks Chromium (DevTools ``CSS.getPlatformFontsForNode``) which fonts drew each text: a character no
    font has shows as a box, drawn with the last fallback font.
    """
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    found = []

    def walk(node):
        own = "".join(c.get("nodeValue", "") for c in node.get("children", []) if c.get("nodeType") == 3)
        if node.get("nodeType") == 1 and CJK.search(own) and node.get("localName") not in ("script", "style", "title"):
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
            if fonts:  # none: not rendered (hidden); a drawn text always names its fonts, a box its fallback
                found.append((own.strip(), [f["familyName"] for f in fonts]))
        for child in node.get("children", []):
            walk(child)

    walk(root)
    cdp.detach()
    return found


def _plotted(answer: dict) -> dict[tuple[str, str], int]:
    """``{(x, series): value}`` of a chart's data answer (x-axis column first, one column per series)."""
    (result,) = answer["result"]
    x_column = result["colnames"][0]
    plotted = {}
    for row in result["data"]:
        x = row[x_column]
        if isinstance(x, int | float) and "day" in x_column:
            x = time.strftime("%Y-%m-%d", time.gmtime(x / 1000))
        for series, value in row.items():
            if series != x_column and value:  # a zero and a missing bar look the same
                plotted[(str(x), series)] = int(value)
    return plotted


def test_the_dashboard_in_chromium_shows_the_figures_of_the_reporting_views(superset_url, analyst, browser):
    url, path, password = superset_url
    shown, data = _read_dashboard(browser, url, path, password)
    fonts = shown.pop("__fonts__")
    expected = _expected(analyst)
    names = {_shown_name(n): n for n in [*CHART_QUERIES, *PLOT_QUERIES]}
    assert set(shown) == set(names), "the dashboard's charts are not the provisioned ones"
    errors = {name: chart["error"] for name, chart in shown.items() if chart["error"]}
    assert not errors, f"charts failed to draw: {errors}"
    for name, rows in expected.items():
        assert rows, f"{name}: the county should give this chart rows to show"
        assert sorted(shown[_shown_name(name)]["rows"]) == sorted(rows), f"{name}: other figures than the view"
    # The charts: what each was given to draw is what the reporting views hold.
    for name, query in PLOT_QUERIES.items():
        rows = analyst.execute(query).fetchall()
        assert rows, f"{name}: the county should give this chart rows to show"
        answer = data[shown[_shown_name(name)]["id"]]
        assert _plotted(answer) == {(_fmt_key(x), s): v for x, s, v in rows if v}, f"{name}: other data than the view"
    # In Chinese (HM_LANGUAGE unset: zh_CN), every Chinese text drawn with a font that has its glyphs.
    assert {"按风险类型和等级统计的未关闭预警（图）", "未关闭预警趋势", "巴仁镇"} <= {text for text, _ in fonts}
    assert [(text, used) for text, used in fonts if not any("CJK" in f for f in used)] == []


def _fmt_key(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
