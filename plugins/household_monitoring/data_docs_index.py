"""The Data Docs index page, listing every validation without re-reading every stored result.

GX 1.24's ``DefaultSiteIndexBuilder`` loads every stored validation result (a JSON file
of ~30 kB, ~20 ms each measured here under load) each time it writes the index, to
show three things of it: success, batch spec and asset name. A year of ten daily
sources is 3,650 results: over a minute a day, growing with history. This builder
keeps those three things per result in ``<HM_GX_DIR>/index_cache.json`` (a stored
result never changes: its key holds its run time) and reads a result only the first
time it is listed. The page it writes is GX's own.

Configured as the site's ``site_index_builder`` by ``quality.gx_context``; imported by
GX only (it imports Great Expectations at module level).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict

from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.render.renderer.site_builder import (
    FALSEY_YAML_STRINGS,
    DefaultSiteIndexBuilder,
    _resolve_asset_name,
)
from great_expectations.render.util import resource_key_passes_run_name_filter

from household_monitoring.config import data_docs_dir

log = logging.getLogger(__name__)

CACHE_FILE = "index_cache.json"


def _cache_key(key) -> str:
    return "\x1f".join(str(part) for part in key.to_tuple())


class CachedSiteIndexBuilder(DefaultSiteIndexBuilder):
    """``DefaultSiteIndexBuilder`` whose validation links come from a cache (see the module docstring)."""

    def _add_validations_to_index_links(self, index_links_dict: OrderedDict, validation_and_profiling_result_site_keys):
        validations = self.site_section_builders_config.get("validations", "None")
        if not validations or validations in FALSEY_YAML_STRINGS:
            return
        run_name_filter = self.site_section_builders_config["validations"]["run_name_filter"]
        keys = [
            key
            for key in validation_and_profiling_result_site_keys
            if resource_key_passes_run_name_filter(key, run_name_filter)
        ]
        keys = sorted(keys, key=lambda k: k.run_id.run_time, reverse=True)
        if self.validation_results_limit:
            keys = keys[: self.validation_results_limit]
        path = data_docs_dir() / CACHE_FILE
        cache = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        kept: dict[str, dict] = {}
        for key in keys:
            entry = cache.get(_cache_key(key))
            if entry is None:
                validation = self.data_context.get_validation_result(
                    batch_identifier=key.batch_identifier,
                    expectation_suite_name=key.expectation_suite_identifier.name,
                    run_id=key.run_id,
                    validation_results_store_name=self.source_stores.get("validations"),
                )
                if not isinstance(validation, ExpectationSuiteValidationResult):
                    log.warning("Validation result not found: %s - skipping", key.to_tuple())
                    continue
                entry = {
                    "success": validation.success,
                    "batch_kwargs": validation.meta.get("batch_kwargs", {}),
                    "batch_spec": validation.meta.get("batch_spec", {}),
                    "asset_name": _resolve_asset_name(validation),
                }
            kept[_cache_key(key)] = entry
            self.add_resource_info_to_index_links_dict(
                index_links_dict=index_links_dict,
                expectation_suite_name=key.expectation_suite_identifier.name,
                section_name="validations",
                batch_identifier=key.batch_identifier,
                run_id=key.run_id,
                validation_success=entry["success"],
                run_time=key.run_id.run_time,
                run_name=key.run_id.run_name,
                asset_name=entry["asset_name"],
                batch_kwargs=entry["batch_kwargs"],
                batch_spec=entry["batch_spec"],
            )
        if kept != cache:
            path.write_text(json.dumps(kept, default=str, ensure_ascii=False), encoding="utf-8")
