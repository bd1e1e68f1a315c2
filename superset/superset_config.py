"""Superset configuration of the household monitoring project (``SUPERSET_CONFIG_PATH`` points here).

Read by Superset 6.1 in its own virtual environment (``hm superset start`` locally, the ``superset``
service of docker-compose.yml in production). Nothing secret is in this file:

- ``SECRET_KEY``: ``SUPERSET_SECRET_KEY`` from the environment (production), else a random key generated
  once into ``<home>/secret_key`` (git-ignored var/), so sessions and the encrypted warehouse password
  survive restarts.
- ``SQLALCHEMY_DATABASE_URI`` (Superset's own metadata, not the warehouse): ``SUPERSET_DATABASE_URI``
  from the environment (production: PostgreSQL), else SQLite at ``<home>/superset.db``.

``<home>`` is ``HM_SUPERSET_HOME`` (set by ``hm superset``), else ``var/superset`` next to this folder.
The warehouse connection is not configured here: ``superset/provision.py`` imports it, as the read-only
``analyst`` role, from the asset bundle in ``superset/assets``.
"""

import os
import secrets
from pathlib import Path

HOME = Path(os.environ.get("HM_SUPERSET_HOME") or Path(__file__).resolve().parents[1] / "var" / "superset")


def _secret_key() -> str:
    from_env = os.environ.get("SUPERSET_SECRET_KEY")
    if from_env:
        return from_env
    path = HOME / "secret_key"
    if not path.exists():
        HOME.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_DATABASE_URI") or f"sqlite:///{HOME / 'superset.db'}"
# SQLite metadata: one writer at a time; wait rather than fail with "database is locked".
if SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
    SQLALCHEMY_ENGINE_OPTIONS = {"connect_args": {"timeout": 30}}

# The dashboards read the warehouse's reporting views only; no file uploads, no DML from SQL Lab.
# Render every chart of a dashboard at once (not only those scrolled into view): a printout or a
# headless browser sees them all.
FEATURE_FLAGS = {"DASHBOARD_VIRTUALIZATION": False}
# Served on 127.0.0.1 over plain HTTP locally; behind a TLS proxy in production (set TALISMAN_ENABLED there).
TALISMAN_ENABLED = os.environ.get("TALISMAN_ENABLED", "false").lower() in ("1", "true", "yes")
# Charts show the marts as they are now: no result cache between a pipeline run and a look.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CONTENT_SECURITY_POLICY_WARNING = False
LOG_LEVEL = os.environ.get("SUPERSET_LOG_LEVEL", "WARNING")
ROW_LIMIT = 10000

# The interface in the project's language (HM_LANGUAGE, as the report and the dashboard's titles:
# Simplified Chinese by default, English by configuration); Superset ships both translations.
LANGUAGES = {"zh": {"flag": "cn", "name": "简体中文"}, "en": {"flag": "us", "name": "English"}}
BABEL_DEFAULT_LOCALE = "en" if os.environ.get("HM_LANGUAGE", "zh_CN").lower().startswith("en") else "zh"
