"""The county daily report's language and font, from given figures (no database, no browser).

The browser checks (every label drawn with the embedded font) are in tests/scenarios/test_reporting_and_access.py.
"""

import re
from datetime import date, timedelta
from pathlib import Path

import matplotlib
import pytest

from household_monitoring import fonts, report
from household_monitoring.i18n import translator

DAY = date(2024, 7, 22)
LINKS = {"daily-reports": "../index.html", "dbt-docs": None, "data-docs": None}


def _figures(first_data_day=date(2024, 7, 15), village="巴仁镇第1村") -> report.Figures:
    return report.Figures(
        as_of_date=DAY,
        by_factor=[("01", "illness", "red", 3), ("01", "illness", "yellow", 2), ("IN", "income", "red", 5)],
        by_township=[("653129100", "巴仁镇", "red", 4)],
        trend=[(first_data_day + timedelta(days=i), i) for i in range((DAY - first_data_day).days + 1)],
        first_data_day=first_data_day,
        overdue_by_village=[("巴仁镇", "653129100001", village, 2, 7)],
        overdue=[("W1", "H1", village, "01", "red", date(2024, 7, 15), 7)],
        households_below_line=[("below_line", 4)],
        total_open=10,
    )


def _svg_texts(page: str) -> set[str]:
    return {re.sub(r"<[^>]*>", "", m).strip() for m in re.findall(r"<text\b.*?</text>", page, flags=re.S)}


@pytest.fixture
def default_font():
    fonts.report_font.cache_clear()
    yield
    fonts.report_font.cache_clear()


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    """The page of the same figures in Chinese and in English (one font subset each: ~2 s apiece)."""
    fonts.report_font.cache_clear()
    figures = _figures()
    return {
        lang: report.render_html(figures, report.render_charts(figures, translator(lang)), LINKS, translator(lang))
        for lang in ("zh_CN", "en")
    }


def test_report_in_simplified_chinese_with_its_font(pages):
    page = pages["zh_CN"]
    assert '<html lang="zh-CN">' in page
    assert "<title>县级防返贫监测日报 2024-07-22</title>" in page
    assert {"因病 (01)", "收入低于监测标准 (IN)", "未关闭预警", "预警等级", "红色", "黄色"} <= _svg_texts(page)
    assert '<p class="note" id="note-trend">数据自2024年7月15日起：此前的日期不显示。</p>' in page
    assert '<span id="link-dbt-docs">dbt 数据模型文档：未生成</span>' in page
    # The font travels with the page: a WOFF subset of Noto Sans CJK SC in a data: URL.
    assert re.search(r"@font-face\{font-family:'Noto Sans CJK SC';src:url\(data:font/woff;base64,", page)
    assert page.count("font-family: 'Noto Sans CJK SC'") > 40  # every chart label asks for it


def test_report_in_english_by_configuration(pages, monkeypatch):
    page = pages["en"]
    assert '<html lang="en">' in page and "<title>County daily report 2024-07-22</title>" in page
    assert {"illness (01)", "income below the line (IN)", "open warnings", "level", "red"} <= _svg_texts(page)
    assert "Data exists from July 15, 2024: the days before it are not shown." in page
    monkeypatch.setenv("HM_LANGUAGE", "en")
    assert translator().gettext("County daily report") == "County daily report"
    monkeypatch.setenv("HM_LANGUAGE", "zh_CN")
    assert translator().gettext("County daily report") == "县级防返贫监测日报"


def test_trend_of_thirty_days_has_no_note(monkeypatch):
    monkeypatch.setattr(fonts, "embedded_font_css", lambda text, where: "")  # the font is not the point here
    figures = _figures(first_data_day=DAY - timedelta(days=40))
    figures.trend = figures.trend[-figures.trend_days :]  # what reporting.open_warnings_by_day gives
    figures.first_data_day = figures.trend[0][0]
    assert not figures.trend_cut
    page = report.render_html(figures, {}, LINKS, translator("zh_CN"))
    assert 'id="note-trend"' not in page
    assert page.count("data-day=") == 30
    figures.first_data_day, figures.trend = None, []
    page = report.render_html(figures, {}, LINKS, translator("zh_CN"))
    assert '<p class="note" id="note-trend">尚未载入任何数据。</p><p class="empty">无数据。</p>' in page


def test_a_character_the_font_lacks_fails_the_report(default_font):
    t = translator("zh_CN")
    figures = _figures(village="巴仁镇第1村😀")
    with pytest.raises(fonts.GlyphMissing, match=r"chart labels: Glyph 128512 .* missing from font"):
        report.render_charts(figures, t)  # matplotlib's warning is an error
    with pytest.raises(fonts.GlyphMissing, match=r"no glyph for '😀' \(U\+1F600\)"):
        report.render_html(figures, {}, LINKS, t)  # the tables would show a box: refused too


def test_a_font_without_chinese_fails_the_charts(default_font, monkeypatch):
    latin_only = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    monkeypatch.setenv("HM_FONT", str(latin_only))
    fonts.report_font.cache_clear()
    with pytest.raises(fonts.GlyphMissing, match=r"chart labels: Glyph \d+ .* missing from font"):
        report.render_charts(_figures(), translator("zh_CN"))


def test_no_font_says_what_to_install(default_font, monkeypatch, tmp_path):
    monkeypatch.setenv("HM_FONT", str(tmp_path / "none.otf"))
    with pytest.raises(fonts.FontMissing, match=r"none\.otf: no such font file"):
        fonts.report_font()
