"""The Superset asset bundle (superset/assets) holds together, without Superset or a browser.

Superset's importer checks the YAML schemas but not that a chart's columns and metrics exist in its
dataset (a chart then fails only when drawn); these tests check the references and the templating of
the connection, so a broken bundle fails here in a second rather than in the browser test.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from household_monitoring import superset
from household_monitoring.config import Database

ASSETS = superset.ASSETS_DIR


def _load(kind: str) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((ASSETS / kind).glob("*.yaml"))}


@pytest.fixture(scope="module")
def bundle():
    return {kind: _load(kind) for kind in ("databases", "datasets", "charts", "dashboards")}


def test_the_bundle_has_one_connection_and_the_county_dashboard(bundle):
    assert len(bundle["databases"]) == 1
    (database,) = bundle["databases"].values()
    assert database["database_name"] == superset.DATABASE_NAME
    assert not database["allow_dml"] and not database["allow_csv_upload"]
    (dashboard,) = bundle["dashboards"].values()
    assert (dashboard["dashboard_title"], dashboard["slug"]) == (superset.DASHBOARD_TITLE, superset.DASHBOARD_SLUG)
    assert yaml.safe_load((ASSETS / "metadata.yaml").read_text())["version"] == "1.0.0"


def test_every_dataset_reads_a_reporting_view_through_the_one_connection(bundle):
    (database,) = bundle["databases"].values()
    tables = set()
    for dataset in bundle["datasets"].values():
        assert dataset["database_uuid"] == database["uuid"]
        assert dataset["schema"] == "reporting"
        sql = dataset["sql"]
        tables.add(sql.split("from ")[1].split()[0] if sql else f"reporting.{dataset['table_name']}")
    assert tables == {
        "reporting.warnings_by_village_factor",
        "reporting.open_warnings_by_day",
        "reporting.households_below_line",
        "reporting.time_to_verification",
        "reporting.data_quality_scorecard",
    }


def test_every_chart_uses_columns_and_metrics_its_dataset_has(bundle):
    datasets = {d["uuid"]: d for d in bundle["datasets"].values()}
    for file, chart in bundle["charts"].items():
        dataset = datasets[chart["dataset_uuid"]]
        columns = {c["column_name"] for c in dataset["columns"]}
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        params = chart["params"]
        used_metrics = [*params.get("metrics", []), *([params["metric"]] if "metric" in params else [])]
        assert set(used_metrics) <= metrics, f"{file}: metrics {set(used_metrics) - metrics} not in the dataset"
        used_columns = {*params.get("groupby", []), *params.get("all_columns", []), *params.get("column_config", {})}
        used_columns |= {params["x_axis"]} if params.get("x_axis") else set()
        used_columns |= {json.loads(o)[0] for o in params.get("order_by_cols", [])}
        used_columns |= {f["subject"] for f in params.get("adhoc_filters", []) if f["expressionType"] == "SIMPLE"}
        assert used_columns <= columns | metrics, f"{file}: columns {used_columns - columns - metrics} not in dataset"


def test_the_dashboard_places_every_chart_once_by_its_uuid(bundle):
    (dashboard,) = bundle["dashboards"].values()
    placed = [v["meta"]["uuid"] for v in dashboard["position"].values() if isinstance(v, dict) and v["type"] == "CHART"]
    assert sorted(placed) == sorted(c["uuid"] for c in bundle["charts"].values())
    names = {c["uuid"]: c["slice_name"] for c in bundle["charts"].values()}
    for item in dashboard["position"].values():
        if isinstance(item, dict) and item["type"] == "CHART":
            assert item["meta"]["sliceName"] == names[item["meta"]["uuid"]]


def test_the_connection_uri_is_filled_in_at_provisioning_as_analyst(monkeypatch):
    monkeypatch.setenv(superset.ANALYST_PASSWORD_VARIABLE, "s3cr/t")
    uri = superset.warehouse_uri(Database("db.example", 5433, "postgres", "owner-password", "household_monitoring"))
    assert uri == "postgresql+psycopg2://analyst:s3cr%2Ft@db.example:5433/household_monitoring"
    monkeypatch.delenv(superset.ANALYST_PASSWORD_VARIABLE)
    assert superset.warehouse_uri(Database("127.0.0.1", 5432, "postgres", "", "hm")) == (
        "postgresql+psycopg2://analyst@127.0.0.1:5432/hm"
    )

    spec = importlib.util.spec_from_file_location("provision", superset.PROVISION_SCRIPT)
    provision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(provision)
    contents = provision.bundle_contents(uri)
    (name,) = [n for n in contents if n.startswith("databases/")]
    assert yaml.safe_load(contents[name])["sqlalchemy_uri"] == uri
    # the files in the repository keep a placeholder without a password
    assert ":" not in yaml.safe_load((ASSETS / name).read_text())["sqlalchemy_uri"].split("@")[0].split("//")[1]


def test_the_dashboard_is_translated_at_provisioning_from_the_catalog():
    spec = importlib.util.spec_from_file_location("provision", superset.PROVISION_SCRIPT)
    provision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(provision)
    i18n = provision.load_i18n()  # the module provision.py loads from its file, as in Superset's environment
    english = provision.bundle_contents("postgresql+psycopg2://analyst@127.0.0.1:5432/hm")
    chinese = {path: yaml.safe_load(text) for path, text in i18n.translate_superset_assets(english, "zh_CN").items()}
    (dashboard,) = [v for k, v in chinese.items() if k.startswith("dashboards/")]
    assert dashboard["dashboard_title"] == "县级防返贫监测"
    charts = {v["uuid"]: v for k, v in chinese.items() if k.startswith("charts/")}
    assert {c["slice_name"] for c in charts.values()} >= {
        "未关闭预警趋势",
        "按乡镇和等级统计的未关闭预警",
        "各村低于监测标准的农户",
    }
    assert (
        charts[next(u for u, c in charts.items() if c["viz_type"] == "echarts_timeseries_line")]["params"][
            "y_axis_title"
        ]
        == "未关闭预警"
    )
    placed = {
        v["meta"]["uuid"]: v["meta"]["sliceName"]
        for v in dashboard["position"].values()
        if isinstance(v, dict) and v["type"] == "CHART"
    }
    assert placed == {u: c["slice_name"] for u, c in charts.items()}  # the layout names the translated charts
    dataset = chinese["datasets/warnings_by_village_factor.yaml"]
    labels = {c["column_name"]: c["verbose_name"] for c in dataset["columns"]}
    assert (labels["risk_factor_name"], labels["warning_level_name"], labels["township_name"]) == (
        "风险类型",
        "预警等级",
        "乡镇",
    )
    # Everything else is left as it is: ids, SQL, column names, the connection.
    assert [c["column_name"] for c in dataset["columns"]] == [
        c["column_name"] for c in yaml.safe_load(english["datasets/warnings_by_village_factor.yaml"])["columns"]
    ]
    assert i18n.translate_superset_assets(english, "en") == {
        path: yaml.safe_dump(yaml.safe_load(text), sort_keys=False, allow_unicode=True)
        for path, text in english.items()
    }
