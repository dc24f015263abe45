"""A GX Data Docs site that works offline, with each validation result named after the file it checked.

GX's page templates load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs, and its index
hands its rows to bootstrap-table: opened with no network (a laptop on a train, an air-gapped cluster) the
index is an empty page. The views here put mtst's templates (``templates/``) ahead of GX's, so every page
inlines its styles (GX's own plus ``mtst_offline.css``, the Bootstrap subset the templates use), loads
nothing from another host, and the index lists its rows as plain HTML.

GX names a batch read from a staged Parquet copy by that copy's temporary path ("Data asset: None");
``name_results`` records the checked file as the result's ``data_asset_name``, which GX's result pages and
index show.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import ChoiceLoader, FileSystemLoader

TEMPLATES = Path(__file__).parent / "templates"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class _OfflineTemplates:
    """Looks templates up in ``TEMPLATES`` first; GX appends custom views after its own, so they cannot override."""

    env: Any

    def _use_mtst_templates(self) -> None:
        self.env.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES)), self.env.loader])


class OfflinePageView(_OfflineTemplates, DefaultJinjaPageView):
    """Validation result and expectation suite pages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._use_mtst_templates()


class OfflineIndexPageView(_OfflineTemplates, DefaultJinjaIndexPageView):
    """The site's index.html."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._use_mtst_templates()


def site_config(docs_dir: Path) -> dict[str, Any]:
    """The ``SiteBuilder`` config of the offline site in ``docs_dir``."""
    view = {"module_name": __name__, "class_name": OfflinePageView.__name__}
    return {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
        "show_how_to_buttons": False,
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                               "view": {"module_name": __name__, "class_name": OfflineIndexPageView.__name__}},
        "site_section_builders": {"expectations": {"view": view}, "validations": {"view": view},
                                  "profiling": {"view": view}},
    }


def staged_name(index: int, file: str) -> str:
    """A Parquet file name for the staged copy of ``file``: unique by ``index``, recognisable by the file's name."""
    return f"{index:03d}-{_UNSAFE.sub('_', file).strip('_')[-80:]}.parquet"


def name_results(context: Any, run_results: dict[Any, Any], files: list[str]) -> None:
    """Record each result's checked file as its ``data_asset_name`` (in result order), in the result and in the
    context's validation results store that Data Docs are built from."""
    for (key, result), file in zip(run_results.items(), files, strict=True):
        meta = result.meta
        meta["batch_spec"] = {**(meta.get("batch_spec") or {}), "data_asset_name": file}
        context.validation_results_store.set(key, result)
