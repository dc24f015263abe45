"""Great Expectations 1.x: the expectation suites, one Checkpoint over all tables, Data Docs, the results.

Every batch is staged as a Parquet file in a private temporary folder and read by a pandas filesystem
data source, so a single GX Checkpoint (with one ValidationDefinition per table and the derived frames)
validates everything in one run; one ``build_data_docs`` then renders the Data Docs site, which works offline
and names each result by the file it checked (``offline_docs``). The GX context is ephemeral: nothing is
written outside the staging folder and the Data Docs folder.

Each expectation carries ``meta.rule``, the short rule name used in summaries and tests, and a severity:
``critical`` expectations fail the run, ``warning`` ones (class imbalance, U+FFFD replacement characters)
are reported only.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mtst.config import ValidateParams
from mtst.data import SPLITS
from mtst.validation.report import Failure, label_hint, show
from mtst.validation.tables import STAGED_COLUMNS, Table, class_counts, datasets, leakage_frame

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

# C0 controls except tab / LF / CR, DEL, and the invisible BOM / zero-width no-break space (U+FEFF).
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]"
BLANK = r"^\s*$"
ALL_RULES = frozenset({
    "columns", "types", "not_null", "blank_text", "text_length", "control_chars", "replacement_char",
    "label_set", "split_values", "duplicate_text", "duplicate_id", "min_per_class", "class_balance",
    "text_leakage", "group_leakage",
})
# What augmentation can break (checked on its output before it is written).
AUGMENT_RULES = frozenset({"columns", "types", "not_null", "blank_text", "control_chars", "label_set",
                           "split_values", "duplicate_text", "duplicate_id", "text_leakage", "group_leakage"})


@dataclass
class Batch:
    """One GX ValidationDefinition: a frame, its expectations, and how to name its offending rows."""

    name: str
    file: str  # shown in summaries
    frame: pd.DataFrame
    expectations: list[Any]
    table: Table | None = None  # row numbers come from the table; derived frames describe rows themselves


def _gx() -> tuple[Any, Any]:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return gx, gxe


def _expect(gxe: Any, kind: str, rule: str, description: str, severity: str = "critical", **kwargs: Any) -> Any:
    return getattr(gxe, kind)(meta={"rule": rule}, description=description, severity=severity, **kwargs)


def table_expectations(table: Table, labels: list[str], params: ValidateParams, rules: frozenset[str]) -> list[Any]:
    """The per-file suite: columns and types, nulls, blank / over-long / control-character text, labels,
    split values, duplicates."""
    _, gxe = _gx()
    columns = set(table.frame.columns)
    present = [c for c in ("id", "text", "label", "group", "split") if c in columns]
    out = [
        _expect(gxe, "ExpectTableColumnsToMatchSet", "columns", f"required columns: {', '.join(table.required)}",
                column_set=list(table.required), exact_match=False),
    ]
    for column in ("text", "label"):
        out.append(_expect(gxe, "ExpectColumnValuesToNotBeNull", "not_null", f"no null {column}", column=column))
        out.append(_expect(gxe, "ExpectColumnValuesToBeOfType", "types", f"{column} is a string", column=column,
                           type_="str"))
    for column in [c for c in ("id", "group", "split") if c in present]:
        out.append(_expect(gxe, "ExpectColumnValuesToNotBeNull", "not_null", f"no null {column}", column=column))
    out += [
        _expect(gxe, "ExpectColumnValuesToNotMatchRegex", "blank_text", "no empty or whitespace-only text",
                column="text", regex=BLANK),
        _expect(gxe, "ExpectColumnValueLengthsToBeBetween", "text_length",
                f"text length within [{params.min_chars}, {params.max_chars}] characters", column="text",
                min_value=params.min_chars, max_value=params.max_chars),
        _expect(gxe, "ExpectColumnValuesToNotMatchRegex", "control_chars",
                "no control characters or stray byte-order marks (U+FEFF) in text", column="text",
                regex=CONTROL_CHARS),
        _expect(gxe, "ExpectColumnValuesToNotMatchRegex", "replacement_char",
                "no U+FFFD replacement characters (the trace of bytes that were not valid UTF-8)",
                severity="warning", column="text", regex="\ufffd"),
        _expect(gxe, "ExpectColumnValuesToBeInSet", "label_set", f"label in {labels}", column="label",
                value_set=list(labels)),
    ]
    if "split" in present:
        allowed = [table.split] if table.split else list(SPLITS)
        out.append(_expect(gxe, "ExpectColumnValuesToBeInSet", "split_values", f"split in {allowed}", column="split",
                           value_set=allowed))
    if "split" in present and table.split is None:
        out.append(_expect(gxe, "ExpectCompoundColumnsToBeUnique", "duplicate_text",
                           "no duplicate text within a split", column_list=["split", "text"]))
    else:
        out.append(_expect(gxe, "ExpectColumnValuesToBeUnique", "duplicate_text", "no duplicate text within the split",
                           column="text"))
    if "id" in present:
        out.append(_expect(gxe, "ExpectColumnValuesToBeUnique", "duplicate_id", "ids are unique", column="id"))
    return [e for e in out if e.meta["rule"] in rules]


def batches(tables: list[Table], labels: dict[str, list[str]], params: ValidateParams,
            rules: frozenset[str] = ALL_RULES) -> list[Batch]:
    """All GX batches: one per table, the class counts, and the leakage frames of each (task, dataset)."""
    _, gxe = _gx()
    out = []
    for table in tables:
        if table.context_only:
            continue
        frame = table.frame[[c for c in table.frame.columns if c in STAGED_COLUMNS]].copy()
        for column in ("id", "group", "split", "domain", "source_id", "augmentation"):
            if column in frame.columns:  # compared as text; only text and label are type-checked
                frame[column] = frame[column].astype("string")
        out.append(Batch(table.name, table.path, frame, table_expectations(table, labels[table.task], params, rules),
                         table))
    counts = class_counts(tables, labels)
    count_rules = [
        _expect(gxe, "ExpectColumnValuesToBeBetween", "min_per_class",
                f"every declared label has at least {params.min_per_class} rows in every split", column="count",
                min_value=params.min_per_class),
    ]
    if params.max_imbalance_ratio is not None:
        count_rules.append(_expect(gxe, "ExpectColumnValuesToBeBetween", "class_balance",
                                   f"largest / smallest class at most {params.max_imbalance_ratio}",
                                   severity="warning", column="imbalance_ratio",
                                   max_value=params.max_imbalance_ratio))
    count_rules = [e for e in count_rules if e.meta["rule"] in rules]
    if len(counts) and count_rules:
        out.append(Batch("class_counts", "class counts", counts, count_rules))
    for (task, dataset), members in datasets(tables).items():
        for key, rule, what in (("text", "text_leakage", "text"), ("group", "group_leakage", "article (group)")):
            if rule not in rules:
                continue
            frame = leakage_frame(members, key)
            if frame["split"].nunique() < 2:
                continue
            files = ", ".join(dict.fromkeys(t.path for t in members))
            out.append(Batch(f"{dataset}/{task}/leakage_{key}", files, frame,
                             [_expect(gxe, "ExpectColumnValuesToBeUnique", rule,
                                      f"no {what} in more than one split", column=key)]))
    return out


def _gx_name(name: str) -> str:
    return name.replace("/", ".").replace("\\", ".")


def run_checkpoint(batch_list: list[Batch], docs_dir: Path | None, work_dir: Path | None = None) -> list[Any]:
    """Run one Checkpoint over all batches (building Data Docs into ``docs_dir``); results in batch order.

    GX reads parquet copies of the tables, made in ``work_dir`` (default: the Data Docs' parent). Callers pass
    their unfinished output folder, so a killed run leaves the copies only inside the temporary that
    ``mtst.io.recover`` clears; with neither, they go to the system temp folder."""
    gx, _ = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    from mtst.validation import offline_docs

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                               analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False))
    context = gx.get_context(mode="ephemeral", project_config=config)
    if docs_dir is not None:
        context.add_data_docs_site("mtst", offline_docs.site_config(docs_dir))
    work_dir = work_dir if work_dir is not None else (docs_dir.parent if docs_dir is not None else None)
    staging = Path(tempfile.mkdtemp(prefix=".gx-staging-" if work_dir is not None else "mtst-gx-", dir=work_dir))
    try:
        source = context.data_sources.add_pandas_filesystem("mtst", base_directory=staging)
        definitions = []
        for i, batch in enumerate(batch_list):
            name = _gx_name(batch.name)
            filename = offline_docs.staged_name(i, batch.file)
            batch.frame.reset_index(drop=True).to_parquet(staging / filename, index=False)
            definition = source.add_parquet_asset(name).add_batch_definition_path("file", path=filename)
            suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=[copy.copy(e) for e in batch.expectations]))
            definitions.append(context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=definition, suite=suite)))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name="mtst", validation_definitions=definitions, result_format={"result_format": "COMPLETE"}))
        result = checkpoint.run()
        if docs_dir is not None:
            offline_docs.name_results(context, result.run_results, [batch.file for batch in batch_list])
            # One build for the whole run: an UpdateDataDocsAction on the Checkpoint rebuilds the site once per
            # validation definition: the same pages built several times over.
            context.build_data_docs(site_names=["mtst"])
        return list(result.run_results.values())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _rows_of(batch: Batch, indices: list[int], column: str | None, sample: int) -> list[str]:
    frame = batch.frame
    out = []
    for index in indices[:sample]:
        value = frame.iloc[index][column] if column in frame.columns else None
        row = batch.table.row(index) if batch.table is not None else index + 1
        out.append(f"row {row}: {show(value)}")
    return out


def _count_failures(batch: Batch, indices: list[int], template: Failure, sample: int,
                    labels: dict[str, list[str]]) -> list[Failure]:
    """One failure per file for the class-count rules, naming the labels (and splits) that fail; a rare label
    that is a near miss of another (a typo in a file whose labels are its own) gets a hint."""
    out = []
    for file, rows in batch.frame.iloc[indices].groupby("file", sort=False):
        if template.rule == "min_per_class":
            lines = [_count_line(r.label, r.part, r.count, labels[r.task]) for r in rows.itertuples()]
            detail = f"{len(rows)} label(s) below the minimum; {template.detail or ''}".strip("; ")
        else:
            parts = rows.drop_duplicates("part")
            lines = [f"{r.part}: largest / smallest class = {r.imbalance_ratio}" for r in parts.itertuples()]
            detail = template.detail
        out.append(Failure(file=str(file), rule=template.rule, expectation=template.expectation,
                           severity=template.severity, count=None, total=None, rows=lines[:sample], detail=detail))
    return out


def _count_line(label: str, part: str, count: int, labels: list[str]) -> str:
    hint = label_hint([label], [other for other in labels if other != label])
    return f"label {label!r} in {part}: {count} rows" + (f" ({hint})" if hint else "")


def _leak_rows(batch: Batch, indices: list[int], key: str, sample: int) -> list[str]:
    frame = batch.frame.iloc[indices]
    out = []
    for value, rows in list(frame.groupby(key, sort=False))[:sample]:
        where = ", ".join(f"{r.split} ({Path(r.file).name} row {r.row})" for r in rows.itertuples())
        out.append(f"{show(value)} in {where}")
    return out


def collect(batch_list: list[Batch], results: list[Any], labels: dict[str, list[str]],
            sample: int) -> tuple[list[Failure], dict[str, Any]]:
    """Failures (critical and warning) and per-batch statistics from the checkpoint's results."""
    failures: list[Failure] = []
    stats: dict[str, Any] = {}
    for batch, result in zip(batch_list, results):
        stats[batch.name] = {"file": batch.file, "rows": int(len(batch.frame)),
                             "expectations": len(result.results),
                             "failed": sum(not r.success for r in result.results)}
        for item in result.results:
            if item.success:
                continue
            config = item.expectation_config
            rule = (config.meta or {}).get("rule", config.type)
            severity = getattr(config.severity, "value", str(config.severity))
            column = config.kwargs.get("column")
            columns = config.kwargs.get("column_list")
            expectation = f"{config.type}({column or ', '.join(columns or [])})"
            res = item.result or {}
            indices = [int(i) if not isinstance(i, dict) else int(next(iter(i.values())))
                       for i in (res.get("unexpected_index_list") or [])]
            failure = Failure(file=batch.file, rule=rule, expectation=expectation, severity=severity,
                              count=res.get("unexpected_count"), total=res.get("element_count"),
                              detail=config.description if rule in ("min_per_class", "class_balance") else "")
            if item.exception_info and item.exception_info.get("raised_exception"):
                failure.detail = f"could not be evaluated: {item.exception_info.get('exception_message')}"
            elif rule == "columns":
                mismatched = (res.get("details") or {}).get("mismatched") or {}
                failure.count = failure.total = None
                failure.detail = (f"missing column(s) {mismatched.get('missing') or []}; "
                                  f"columns are {res.get('observed_value')}")
            elif rule in ("min_per_class", "class_balance"):
                failures.extend(_count_failures(batch, indices, failure, sample, labels))
                continue
            elif rule in ("text_leakage", "group_leakage"):
                failure.rows = _leak_rows(batch, indices, column, sample)
                failure.detail = f"{frame_unique(batch.frame.iloc[indices], column)} value(s) in more than one split"
                failure.count, failure.total = None, None
            else:
                failure.rows = _rows_of(batch, indices, column or (columns or [None])[-1], sample)
                if rule == "label_set" and batch.table is not None:
                    bad = sorted({str(v) for v in res.get("unexpected_list") or res.get("partial_unexpected_list") or []})
                    failure.detail = (f"labels {bad} are not in {labels[batch.table.task]}. "
                                      f"{label_hint(bad, labels[batch.table.task])}").strip()
                elif rule == "text_length":
                    failure.detail = config.description or ""
            failures.append(failure)
    return failures, stats


def frame_unique(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].nunique())
