"""Data Docs: built once per DAG run from the day's validations, readable with no network.

The quality gate (``quality.validate_batch``) stores each batch's validation result in
the Great Expectations store; it renders nothing. :func:`build_data_docs` renders, once
per run, the pages of one logical date's validations, the suites' pages and the index,
then :func:`make_offline` makes those pages self-contained:

- GX 1.24's templates load Bootstrap, jQuery, bootstrap-table, Font Awesome, Vega and a
  logo from public CDNs. On a county's internal network none answers: the index lists no
  validation (its table is drawn by bootstrap-table's script) and pages are unstyled.
  The same files, at the versions the templates name, are vendored in
  ``data_docs_vendor/`` (see its README), copied to ``<site>/static/vendor/`` and every
  CDN address in a page is replaced by the file's relative path; the logo points at the
  copy GX already ships in ``static/images``. ``integrity``/``crossorigin`` attributes go:
  a browser refuses a ``crossorigin`` script from a ``file:`` page.
- the "how to" buttons (links to GX's online documentation) are turned off.

GX has no site option for local assets (its template loader puts the package's own
templates first, so a custom views folder cannot override them), hence the rewrite.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from household_monitoring.config import Database, data_docs_dir

log = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).resolve().parent / "data_docs_vendor"

#: CDN address in GX 1.24's templates -> vendored file (under ``data_docs_vendor/``).
VENDORED: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.1/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.1/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/vega-embed.min.js",
}
#: GX's logo, from its web-assets bucket (with a cache-busting query): the copy in static/images serves.
_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/[\w.-]+(\?[^\"')\s]*)?")
_SRI = re.compile(r'\s+(integrity="[^"]*"|crossorigin="[^"]*")')
_CDN = re.compile("|".join(re.escape(url) + r'(?=["\'])' for url in sorted(VENDORED, key=len, reverse=True)))


def site_dir() -> Path:
    """The Data Docs site folder (``<HM_GX_DIR>/gx/uncommitted/data_docs/local_site``)."""
    return data_docs_dir() / "gx" / "uncommitted" / "data_docs" / "local_site"


def _vendor_stamp() -> str:
    digest = hashlib.sha256()
    for path in sorted(VENDOR_DIR.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(VENDOR_DIR)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def copy_vendored_assets(site: Path) -> Path:
    """Copy ``data_docs_vendor/`` to ``<site>/static/vendor`` unless the same files are there; return it."""
    target = site / "static" / "vendor"
    stamp = target / ".stamp"
    wanted = _vendor_stamp()
    if not (stamp.exists() and stamp.read_text(encoding="utf-8") == wanted):
        shutil.copytree(VENDOR_DIR, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
        stamp.write_text(wanted, encoding="utf-8")
    return target


def offline_html(html: str, static_prefix: str) -> str:
    """One page's HTML with every CDN asset replaced by ``<static_prefix>/vendor/<file>``.

    ``static_prefix``: the relative path from the page's folder to the site's ``static``
    folder (``static`` for the index, ``../../../../static`` for a validation page).
    """
    html = _CDN.sub(lambda m: f"{static_prefix}/vendor/{VENDORED[m.group(0)]}", html)
    html = _LOGO.sub(f"{static_prefix}/images/logo-long.png", html)
    return _SRI.sub("", html)


def make_offline(site: Path, pages: Iterable[Path]) -> int:
    """Vendor the assets into ``site`` and rewrite ``pages`` (HTML files in it); return how many changed."""
    copy_vendored_assets(site)
    changed = 0
    for page in pages:
        html = page.read_text(encoding="utf-8")
        prefix = Path(os.path.relpath(site / "static", page.parent)).as_posix()
        new = offline_html(html, prefix)
        if new != html:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def build_data_docs(db: Database, logical_date: date | None = None) -> Path:
    """Render the Data Docs of ``logical_date``'s validations (all when ``None``), readable offline.

    Renders each validation result stored by the gate for that date (run names
    ``<source>-<YYYY-MM-DD>-batch<N>``), the pages of those sources' suites and the index
    (which lists every validation in the store), then rewrites the pages written now
    (see :func:`make_offline`). Cost: the day's pages plus the index, which reads every
    stored result (GX's index builder): it grows with the number of validations kept.
    Returns the index path. Serialised with the gate through the context's lock.
    """
    import fasteners

    from household_monitoring.quality import gx_context

    site = site_dir()
    data_docs_dir().mkdir(parents=True, exist_ok=True)
    started = time.time()
    with fasteners.InterProcessLock(str(data_docs_dir() / ".gx.lock")):
        context = gx_context(db)
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        keys = context.validation_results_store.list_keys()
        if logical_date is not None:
            marker = f"-{logical_date.isoformat()}-batch"
            keys = [k for k in keys if marker in (k.run_id.run_name or "")]
        suites = {k.expectation_suite_identifier.name for k in keys}
        resources = [*keys, *(ExpectationSuiteIdentifier(name=name) for name in sorted(suites))]
        if resources or logical_date is None:  # (an empty list would make GX render every result)
            context.build_data_docs(resource_identifiers=resources or None, build_index=True)
        pages = [p for p in site.rglob("*.html") if p.stat().st_mtime >= started - 1]
        changed = make_offline(site, pages)
    log.info("Data Docs for %s: %d validation(s), %d page(s) made offline", logical_date, len(keys), changed)
    return site / "index.html"
