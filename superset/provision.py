"""Import the county dashboard's asset bundle (this folder's ``assets/``) into Superset.

Runs inside Superset's own environment (``var/superset-venv`` locally, the official image in
docker-compose.yml), with ``SUPERSET_CONFIG_PATH`` pointing at ``superset_config.py``:

    HM_SUPERSET_WAREHOUSE_URI=postgresql+psycopg2://analyst:...@host:5432/db python provision.py [--zip out.zip]

The bundle is Superset's native export format (``metadata.yaml``, ``databases/``, ``datasets/``,
``charts/``, ``dashboards/``; version 1.0.0). The warehouse connection's ``sqlalchemy_uri`` in
``assets/databases/*.yaml`` is a placeholder: it is replaced here by ``HM_SUPERSET_WAREHOUSE_URI``
(required), so no host or password is kept in the repository. Superset stores the password encrypted
with its SECRET_KEY.

Language: the bundle in the repository is English; the titles, chart names and labels (the keys
``SUPERSET_TEXT_KEYS`` of ``household_monitoring.i18n``) are translated here, at provisioning, from the
gettext catalog ``superset`` of the project (``plugins/household_monitoring/locale``), into
``HM_LANGUAGE`` (default ``zh_CN``; ``en`` keeps the English). The module is loaded from its file
(``HM_I18N_MODULE``, default ``../plugins/household_monitoring/i18n.py``): it needs only Babel and
PyYAML, which Superset's environment has. Names of data values (risk factors, levels, income bands)
come translated from the reporting views (dbt seeds, same ``HM_LANGUAGE``).

The import is Superset's ``ImportAssetsCommand`` (what ``POST /api/v1/assets/import/`` runs), acting as
the admin user ``HM_SUPERSET_ADMIN`` (default ``admin``): it overwrites objects with the same UUIDs, so
re-running it updates the connection, datasets, charts and dashboard in place and never duplicates them.
``--zip PATH`` also writes the templated bundle as a zip, importable with
``superset import-dashboards -p PATH -u admin`` or through the UI.

Exit status 0 on success; 1 with the validation messages of Superset's importer otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import zipfile
from pathlib import Path

import yaml

ASSETS = Path(__file__).resolve().parent / "assets"
BUNDLE_ROOT = "county_risk_monitoring"
I18N_MODULE = Path(__file__).resolve().parents[1] / "plugins" / "household_monitoring" / "i18n.py"


def load_i18n():
    """The project's ``household_monitoring.i18n`` module, loaded from its file (not the installed package)."""
    path = Path(os.environ.get("HM_I18N_MODULE") or I18N_MODULE)
    if not path.is_file():
        raise SystemExit(f"{path}: the project's i18n module is missing (set HM_I18N_MODULE)")
    spec = importlib.util.spec_from_file_location("hm_i18n", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def bundle_contents(warehouse_uri: str) -> dict[str, str]:
    """``{relative path: YAML text}`` of every file under ``assets/``, the database URIs replaced."""
    contents: dict[str, str] = {}
    for path in sorted(ASSETS.rglob("*.yaml")):
        name = path.relative_to(ASSETS).as_posix()
        text = path.read_text(encoding="utf-8")
        if name.startswith("databases/"):
            config = yaml.safe_load(text)
            config["sqlalchemy_uri"] = warehouse_uri
            text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        contents[name] = text
    if "metadata.yaml" not in contents:
        raise SystemExit(f"{ASSETS}/metadata.yaml is missing")
    return contents


def write_zip(contents: dict[str, str], path: Path) -> None:
    """The bundle as Superset exports it: every file under one top folder."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in contents.items():
            bundle.writestr(f"{BUNDLE_ROOT}/{name}", text)


def grant_language_pack_to_public(security_manager) -> None:
    """Let a visitor who is not logged in read the interface's translation (``/superset/language_pack/<lang>/``).

    Superset 6.1's pages fetch the language pack whenever the locale is not English (here ``zh``, the
    default), the login page too; the endpoint requires ``can_language_pack on Superset``, which the
    ``Public`` role lacks, so the login page stayed in English and its request was redirected to
    ``/login/``, whose late answer could replace the session cookie of a login made meanwhile
    (apache/superset#38178 and discussion #34885 describe the login page's missing translation). The pack is
    Superset's own public message catalog: nothing of the warehouse. Idempotent.
    """
    role = security_manager.find_role(security_manager.auth_role_public)
    permission = security_manager.find_permission_view_menu("can_language_pack", "Superset")
    if role is None or permission is None:
        raise SystemExit("Superset's Public role or its can_language_pack permission is missing (superset init)")
    if permission not in role.permissions:
        security_manager.add_permission_role(role, permission)


def main() -> int:
    """Template the bundle, optionally zip it, import it as the admin user; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", type=Path, help="also write the templated bundle to this zip file")
    args = parser.parse_args()
    uri = os.environ.get("HM_SUPERSET_WAREHOUSE_URI")
    if not uri:
        print("HM_SUPERSET_WAREHOUSE_URI is not set (the warehouse as the analyst role)", file=sys.stderr)
        return 1
    i18n = load_i18n()
    try:
        contents = i18n.translate_superset_assets(bundle_contents(uri), os.environ.get("HM_LANGUAGE"))
    except i18n.I18nError as exc:
        print(f"cannot translate the dashboard: {exc}", file=sys.stderr)
        return 1
    if args.zip:
        write_zip(contents, args.zip)

    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.exceptions import CommandInvalidError
        from superset.commands.importers.v1.assets import ImportAssetsCommand

        username = os.environ.get("HM_SUPERSET_ADMIN", "admin")
        g.user = security_manager.find_user(username=username)
        if g.user is None:
            print(f"Superset user {username!r} does not exist (superset fab create-admin)", file=sys.stderr)
            return 1
        try:
            ImportAssetsCommand(contents).run()
        except CommandInvalidError as exc:
            print(f"import of {ASSETS} failed: {exc.normalized_messages()}", file=sys.stderr)
            return 1
        grant_language_pack_to_public(security_manager)
    kinds = sorted({name.split("/")[0] for name in contents if "/" in name})
    counts = ", ".join(f"{sum(n.startswith(k + '/') for n in contents)} {k}" for k in kinds)
    print(f"imported {counts} from {ASSETS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
