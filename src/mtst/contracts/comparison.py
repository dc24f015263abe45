"""``comparison.json`` of ``mtst compare`` and the ``predictions/<task>.jsonl`` rows of an eval folder it reads.

``Comparison`` is written by ``mtst.steps.compare`` (built by ``mtst.comparison.report.build``) and read by the
tests and anyone comparing runs; ``Prediction`` rows are written by ``mtst evaluate`` and read by the paired
bootstrap and the registry's test-set hash.

Numbers that may be integers (parameter counts, metrics) are ``int | float``: the file keeps whichever the
writer produced, so a parameter count is not rewritten as ``22713216.0``.
"""

from __future__ import annotations

from pathlib import Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtst.contracts.base import ContractError, Record, describe

REPORT, CHART, COMPARISON = "comparison.md", "comparison.png", "comparison.json"
REPORT_FILES = (REPORT, CHART, COMPARISON)
"""What ``mtst compare`` writes into its reports folder: the report, its chart, its record."""
PREDICTIONS = "predictions"
"""The eval folder's folder of ``Prediction`` rows, one file per task (:func:`predictions_file`)."""

Number = int | float


def predictions_file(task: str) -> str:
    """The path, inside an eval folder, of task ``task``'s test predictions."""
    return f"{PREDICTIONS}/{task}.jsonl"


class Part(BaseModel):
    """A nested part of a record: as strict about unknown keys as the record."""

    model_config = ConfigDict(extra="forbid")


class Prediction(Part):
    """One test row of ``predictions/<task>.jsonl``: the true and the predicted label, the class probabilities."""

    id: str
    label: str
    predicted: str
    proba: list[float]
    domain: str | None = None


def read_predictions(path: str | Path) -> list[Prediction]:
    """The rows of a predictions file; none when the file is absent (an evaluation without that task)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(Prediction.model_validate_json(line))
            except ValidationError as e:
                raise ContractError(f"{path}, line {number}: not a valid Prediction ({describe(e)})") from None
    return rows


class VariantEntry(Part):
    """A compared variant: what it is and its flat test metrics (``metrics.json``)."""

    variant: str
    description: str
    tasks: list[str]
    metrics: dict[str, Number]


class Quality(Part):
    """Test macro-F1 of the multi-task model and the separate single-task model on one task; ``diff`` in points
    (multi-task minus separate), ``ci`` its 95% paired-bootstrap interval ``[low, high]``."""

    multitask: float | None
    separate: float | None
    diff: float | None
    ci: list[float] | None


class DomainQuality(Part):
    multitask: float | None
    separate: float | None


class MultitaskCost(Part):
    """What serving both tasks with the one multi-task model costs."""

    sentences_per_s: float | None
    parameters: Number | None
    memory_mb: float | None
    size_mb: float | None
    train_s: float | None


class SeparateCost(MultitaskCost):
    """What serving both tasks with the two single-task models costs (sums; throughput of both per sentence)."""

    task_a_sentences_per_s: float | None
    task_b_sentences_per_s: float | None


class MultitaskVsSeparate(Part):
    multitask_variant: str
    separate_variants: list[str]
    quality: dict[str, Quality]
    task_b_domains: dict[str, DomainQuality]
    measured_side_by_side: bool
    multitask: MultitaskCost
    separate: SeparateCost


class Decision(Part):
    """The recommendation (``choice``, and ``text`` quoted in comparison.md) and the numbers it rests on."""

    choice: str
    text: str
    worse: list[str]
    better: list[str]
    ties: list[str]
    throughput_ratio: float | None
    parameter_ratio: float | None
    train_time_ratio: float | None


class AblationRow(Part):
    variant: str
    changes: str
    axes: list[str]
    augmented: bool | None
    task_a: float | None
    task_b: float | None
    delta_a: float | None
    delta_b: float | None
    train_s: float | None
    source: str | None = Field(None, description="where the row's numbers come from when not from this run: "
                                                 "an earlier MLflow run on the same test rows")


class Ablation(Part):
    """The ``staged`` reference and its ``staged_*`` variants; ``covered``/``missing``: the ablation axes."""

    rows: list[AblationRow]
    covered: list[str]
    missing: list[str]


class SeedInterval(Part):
    """A macro-F1 (a fraction) as its mean over ``n`` seeds and the 95% Student-t interval (None for one seed)."""

    n: int
    mean: float
    low: float | None
    high: float | None


class SeedRow(Part):
    """One variant over the runs of its recipe (all its training settings and rows but ``train.seed``) on this
    run's test rows, found in MLflow: the latest run per seed."""

    variant: str
    seeds: list[int]
    run_ids: list[str]
    task_a: SeedInterval | None
    task_b: SeedInterval | None


class ServingRow(Part):
    """One backend serving the champion: sentences/s and macro-F1 per task, the change against torch in points,
    size on disk. ``sentences_per_s``: the slower task's (what serving both tasks can promise)."""

    backend: str
    task_sentences_per_s: dict[str, float]
    sentences_per_s: float
    ratio_to_torch: float
    macro_f1: dict[str, float]
    change_vs_torch: dict[str, float]
    size_mb: float
    within_tolerance: bool
    chosen: bool


class Serving(Part):
    """The serving table (``mtst.comparison.serving``): the champion by each backend, scored on the whole
    ``split`` of its splits, timed side by side; ``chosen`` serves the registered version and ``reason`` says
    why. Not measured (no ``rows``, ``chosen`` null, ``reason`` why) when the champion's model folder or test
    split is not here: the registered version keeps the backend its evaluation logged. A row's ``backend`` is
    what ran: ``openvino-bf16`` is measured as ``openvino`` on a CPU without bf16 instructions."""

    variant: str
    split: str
    test_rows: dict[str, int]
    batch_size: int
    tolerance: float
    rows: list[ServingRow]
    chosen: str | None
    reason: str
    cpu: str | None = None
    """The CPU that measured it (``mtst.cpu.describe``): speed and int8 / bf16 quality depend on its class."""


class MeasuredModel(Part):
    """A registered model version and what its selection value was measured on (``mtst.registry.Measured``);
    ``backend``: what serves it (null: registered before the backend was recorded, i.e. torch)."""

    version: str | None
    variant: str
    run_id: str | None
    metric: str | None
    value: float | None
    test_data_hash: str | None
    data_hash: str | None
    backend: str | None = None


class NotRegistered(Part):
    """Nothing was registered, and why."""

    decision: str
    reason: str


class RegistryOutcome(Part):
    """The candidate registered; whether the alias moved to it (``decision``: promoted | kept) and why."""

    decision: str
    reason: str
    forced: bool
    name: str
    alias: str
    candidate: MeasuredModel
    previous: MeasuredModel | None
    champion: MeasuredModel
    champion_uri: str


class RegisteredBrief(Part):
    """The short form for the CLI summary when nothing was registered."""

    parent_run_id: str
    decision: str


class RegisteredVersion(RegisteredBrief):
    """The short form for the CLI summary: the candidate's version and whether it holds the alias now."""

    name: str
    version: str
    variant: str
    alias: str
    uri: str
    champion_version: str
    champion_uri: str


class Comparison(Record):
    """``comparison.json``: every variant, the champion by the selection metric, the multi-task vs separate
    numbers and decision (null without both single-task variants), the ablation (null without ``staged``), the
    serving table (null when ``compare.serving_backends`` is empty, or in files written before it existed) and
    the registry decision (null with tracking off)."""

    variants: list[VariantEntry]
    selection_metric: str
    champion: str
    champion_value: float | None
    multitask_vs_separate: MultitaskVsSeparate | None
    decision: Decision | None
    ablation: Ablation | None
    registered: RegisteredVersion | RegisteredBrief | None
    registry: RegistryOutcome | NotRegistered | None
    serving: Serving | None = None
    seeds: list[SeedRow] | None = Field(None, description="per variant, its runs over seeds from MLflow "
                                                          "(null with tracking off)")

