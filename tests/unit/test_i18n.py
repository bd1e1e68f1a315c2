"""The translations: catalogs complete and current, language from HM_LANGUAGE, risk factor names."""

import csv
from datetime import date

import pytest

from household_monitoring import i18n
from household_monitoring.config import DBT_PROJECT_DIR


def test_catalogs_are_current_and_complete():
    # Every marked string extracted, every one translated, placeholders intact (hm i18n check).
    assert i18n.check_catalogs() == []


def test_language_defaults_to_simplified_chinese(monkeypatch):
    monkeypatch.delenv("HM_LANGUAGE", raising=False)
    t = i18n.translator()
    assert (t.language, t.html_lang) == ("zh_CN", "zh-CN")
    assert (t.level("red"), t.level("yellow")) == ("红色", "黄色")
    assert t.format_date(date(2024, 7, 17)) == "2024年7月17日"
    assert t.risk_factor("01") == "因病"


def test_english_by_configuration(monkeypatch):
    monkeypatch.setenv("HM_LANGUAGE", "en")
    t = i18n.translator()
    assert (t.language, t.level("red"), t.risk_factor("07")) == ("en", "red", "unstable employment")
    assert t.format_date(date(2024, 7, 17)) == "July 17, 2024"
    assert t.ngettext("{n} day", "{n} days", 2) == "{n} days"


@pytest.mark.parametrize(
    ("given", "resolved"), [("zh", "zh_CN"), ("zh-CN", "zh_CN"), ("zh_CN", "zh_CN"), ("en_US", "en")]
)
def test_language_spellings(given, resolved):
    assert i18n.resolve_language(given) == resolved


def test_unknown_language_names_the_available_ones(monkeypatch):
    monkeypatch.setenv("HM_LANGUAGE", "fr")
    with pytest.raises(i18n.I18nError, match=r"no catalog for language 'fr' .*available: en, zh_CN"):
        i18n.translator()


def test_every_rule_factor_has_a_name_in_every_language():
    with (DBT_PROJECT_DIR / "seeds" / "risk_rules.csv").open(encoding="utf-8") as handle:
        codes = {row["risk_factor_code"] for row in csv.DictReader(handle)}
    names = {(code, lang): i18n.risk_factor_name(code, lang) for code in codes for lang in i18n.available_languages()}
    assert all(names.values())
    assert names[("04", "zh_CN")] == "缺劳动力"
    assert names[("09", "zh_CN")] == "因学"
    with pytest.raises(i18n.I18nError, match=r"'99' is not in risk_factors\.csv"):
        i18n.risk_factor_name("99", "en")
