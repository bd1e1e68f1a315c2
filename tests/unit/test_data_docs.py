"""Data Docs (issue 13): built once per run from the day's validations, readable with no network."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from household_monitoring.data_docs import VENDOR_DIR, VENDORED, offline_html
from household_monitoring.loading import load_file
from household_monitoring.sample_data.generator import REGISTER_HEADER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bad_files"
DAY = date(2033, 3, 1)


def test_every_cdn_asset_of_the_gx_templates_is_vendored():
    """A GX upgrade that names another CDN file fails here, not on a county's network."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    named = set()
    for template in templates.glob("*.j2"):
        named |= set(re.findall(r'(?:src|href)="(https://[^"]+)"', template.read_text(encoding="utf-8")))
    assets = {url for url in named if not url.startswith(("https://greatexpectations.io", "https://docs."))}
    assert assets == set(VENDORED)
    assert all((VENDOR_DIR / local).is_file() for local in VENDORED.values())


def test_offline_html_points_at_the_vendored_files_and_drops_integrity():
    page = (
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&amp;x=2" />'
        '<a href="https://greatexpectations.io">GX</a>'
    )
    assert offline_html(page, "../../static") == (
        '<script src="../../static/vendor/jquery-3.7.1/jquery.min.js"></script>'
        '<script src="../../static/vendor/bootstrap-4.3.1/bootstrap.min.js"></script>'
        '<img src="../../static/images/logo-long.png" />'
        '<a href="https://greatexpectations.io">GX</a>'
    )


def _register(tmp_path: Path) -> Path:
    from stdnum.cn import ric

    lines = [",".join(REGISTER_HEADER)]
    for n in range(5):
        base = f"65312919800101{n:03d}"
        pid = base + ric.calc_check_digit(base + "0")
        lines.append(f"65312910000100{n:02d},{pid},名{n},户主,男,1980-01-01,653129100001,脱贫户,普通劳动力,正常,")
    path = tmp_path / "register.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _offline_page(browser, path: Path):
    """Open ``path`` with every request that is not a local file refused; return (page, refused URLs)."""
    page = browser.new_page()
    refused: list[str] = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith(("file:", "data:")), refuse)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, refused


def test_data_docs_list_the_days_validations_styled_with_no_network(
    fresh_db, contracts, browser, tmp_path, monkeypatch
):
    from household_monitoring.data_docs import build_data_docs
    from household_monitoring.database import connect
    from household_monitoring.quality import validate_batch

    monkeypatch.setenv("HM_GX_DIR", str(tmp_path / "gx"))
    with connect(fresh_db, autocommit=True) as conn:
        good = load_file(conn, contracts["household_register"], _register(tmp_path), DAY)
        empty = load_file(conn, contracts["medical_settlements"], FIXTURES / "files" / "header_only.csv", DAY)
        assert validate_batch(conn, fresh_db, contracts["household_register"], good.batch_id).status == "published"
        gate = validate_batch(conn, fresh_db, contracts["medical_settlements"], empty.batch_id)
        assert gate.status == "failed_validation"
        index = build_data_docs(fresh_db, DAY)
    assert index == tmp_path / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    # The index builder keeps what it shows of each result, so the next build reads none of them again.
    cache = json.loads((tmp_path / "gx" / "index_cache.json").read_text(encoding="utf-8"))
    assert sorted((v["asset_name"], v["success"]) for v in cache.values()) == [
        ("household_register__batch", True),
        ("medical_settlements__batch", False),
    ]

    page, refused = _offline_page(browser, index)
    assert refused == []
    rows = page.eval_on_selector_all(
        "#section-1 table tbody tr, table.table tbody tr",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))",
    )
    run_names = sorted({cell for row in rows for cell in row if cell.endswith(("-batch1", "-batch2"))})
    assert run_names == [f"household_register-{DAY}-batch1", f"medical_settlements-{DAY}-batch2"]
    styled = page.evaluate(
        """() => ({
            table: typeof jQuery === 'function' && typeof jQuery.fn.bootstrapTable === 'function',
            button: getComputedStyle(document.querySelector('.btn')).display,
            icons: Array.from(document.querySelectorAll('table i.fas, table i.fa'))
                        .map(i => getComputedStyle(i).fontFamily.includes('Font Awesome')),
        })"""
    )
    assert styled == {"table": True, "button": "inline-block", "icons": [True, True]}
    page.close()

    site = index.parent
    failed_page = next((site / "validations" / "medical_settlements__contract").rglob("*.html"))
    page, refused = _offline_page(browser, failed_page)
    assert refused == []
    assert "Must have greater than or equal to 1 rows" in page.inner_text("body")
    assert page.evaluate("() => getComputedStyle(document.querySelector('.card')).borderTopStyle") == "solid"
    page.close()
