"""One multi-task model or two single-task models: the champion, its single-task baselines, the quality and
cost of both options, and the recommendation generated from those numbers (never written by hand)."""

from __future__ import annotations

from pathlib import Path

from mtst.comparison.results import Result, domain_names
from mtst.comparison.statistics import paired_bootstrap
from mtst.comparison.timing import measure_side_by_side, sample_texts
from mtst.config import CompareParams
from mtst.contracts.comparison import (Decision, DomainQuality, MultitaskCost, MultitaskVsSeparate, Quality,
                                       SeparateCost)
from mtst.dag import LAYOUT
from mtst.comparison.errors import ComparisonError
from mtst.tasks import TASK_NAMES, task as task_row
from mtst.contracts.training import MODEL_CONFIG

COST_KEYS = ("sentences_per_s", "parameters", "size_mb", "memory_mb")


def select_champion(results: list[Result], metric: str) -> Result:
    """Best variant by ``metric`` among those that serve every task (single-task models cannot serve both);
    a tie goes to the variant listed first."""
    all_tasks = sorted({t for r in results for t in r.tasks})
    candidates = [r for r in results if set(r.tasks) >= set(all_tasks) and r.get(metric) is not None]
    if not candidates:
        known = sorted({k for r in results for k in r.metrics.root})
        raise ComparisonError(f"no variant serving {all_tasks} has the selection metric {metric!r} "
                              f"(compare.selection_metric); metrics.json keys include {known[:12]}")
    return max(candidates, key=lambda r: (r.get(metric), -results.index(r)))


def train_time_total(result: Result, by_name: dict[str, Result]) -> float | None:
    """Wall time including the variant it starts from (``init_from``), as a fresh training would cost."""
    own, base = result.get("train.wall_s"), result.init_from
    if own is not None and base and base in by_name and by_name[base] is not result:
        base_total = train_time_total(by_name[base], by_name)
        return own + base_total if base_total is not None else own
    return own


def single_task_baselines(results: list[Result]) -> dict[str, Result]:
    """Per task, the best model serving only that task (``single_a`` / ``single_b`` when present)."""
    out = {}
    for task in TASK_NAMES:
        named = [r for r in results if r.variant == f"single_{task[-1]}" and r.tasks == [task]]
        others = [r for r in results if r.tasks == [task]]
        pool = named or others
        if pool:
            out[task] = max(pool, key=lambda r: r.get(f"{task}.macro_f1") or 0)
    return out


def _costs(champion: Result, a: Result, b: Result, params: CompareParams) -> tuple[dict[str, dict[str, float | None]], bool]:
    """Throughput and size of the three models: timed side by side when all three models are here (and
    ``compare.measure_inference``), else as each evaluation recorded them. Returns (costs, measured)."""
    sides = {"multitask": champion, "task_a": a, "task_b": b}
    model_dirs = {name: Path(r.info.model_dir if r.info else "") for name, r in sides.items()}
    if params.measure_inference and all((p / MODEL_CONFIG).exists() for p in model_dirs.values()):
        splits = Path((champion.info.splits_dir if champion.info else None) or LAYOUT.splits)
        texts = sample_texts(splits, params.inference_sentences, params.seed)
        return measure_side_by_side(model_dirs, texts, params.inference_batch_size, params.inference_repeats), True
    recorded = {"sentences_per_s": "inference.sentences_per_s", "parameters": "model.parameters",
                "size_mb": "model.size_mb", "memory_mb": "model.memory_mb"}
    return {name: {k: r.get(key) for k, key in recorded.items()} for name, r in sides.items()}, False


def multitask_vs_separate(champion: Result, singles: dict[str, Result], by_name: dict[str, Result],
                          params: CompareParams) -> MultitaskVsSeparate | None:
    """The champion against both single-task baselines: quality per task (paired bootstrap) and per Task B
    domain, throughput for both tasks, parameters, memory, size and training time. None without both."""
    if set(singles) != set(TASK_NAMES):
        return None
    a, b = singles["task_a"], singles["task_b"]
    quality = {}
    for task, single in singles.items():
        mt_value, single_value = champion.get(f"{task}.macro_f1"), single.get(f"{task}.macro_f1")
        boot = paired_bootstrap(champion.predictions(task), single.predictions(task), params.bootstrap, params.seed)
        quality[task] = Quality(multitask=mt_value, separate=single_value,
                                diff=100 * (mt_value - single_value) if None not in (mt_value, single_value) else None,
                                ci=[boot.low, boot.high] if boot else None)
    domains = {d: DomainQuality(multitask=champion.get(f"task_b.domain.{d}.macro_f1"),
                                separate=b.get(f"task_b.domain.{d}.macro_f1"))
               for d in domain_names([champion, b]) if champion.get(f"task_b.domain.{d}.macro_f1") is not None}

    cost, measured = _costs(champion, a, b, params)
    sep_tp = None
    if cost["task_a"].get("sentences_per_s") and cost["task_b"].get("sentences_per_s"):
        sep_tp = 1 / (1 / cost["task_a"]["sentences_per_s"] + 1 / cost["task_b"]["sentences_per_s"])  # both models per sentence

    def total(key: str) -> float | None:
        values = [cost["task_a"].get(key), cost["task_b"].get(key)]
        return float(sum(values)) if None not in values else None  # type: ignore[arg-type]

    mt_train, a_train, b_train = (train_time_total(r, by_name) for r in (champion, a, b))
    return MultitaskVsSeparate(
        multitask_variant=champion.variant, separate_variants=[a.variant, b.variant],
        quality=quality, task_b_domains=domains, measured_side_by_side=measured,
        multitask=MultitaskCost(**{k: cost["multitask"].get(k) for k in COST_KEYS}, train_s=mt_train),
        separate=SeparateCost(sentences_per_s=sep_tp, parameters=total("parameters"), memory_mb=total("memory_mb"),
                              size_mb=total("size_mb"),
                              train_s=a_train + b_train if a_train is not None and b_train is not None else None,
                              task_a_sentences_per_s=cost["task_a"].get("sentences_per_s"),
                              task_b_sentences_per_s=cost["task_b"].get("sentences_per_s")),
    )


def _ratio(x: float | None, y: float | None) -> float | None:
    return x / y if x and y else None


def decision(mvs: MultitaskVsSeparate, tolerance: float) -> Decision:
    """The recommendation, generated from the numbers: the multi-task model wins unless it is worse than the
    separate models by more than ``tolerance`` macro-F1 points on some task (and the bootstrap interval
    excludes zero); then quality outweighs its savings."""
    worse, better, ties = [], [], []
    for task, q in mvs.quality.items():
        diff, ci = q.diff, q.ci
        if diff is None:
            continue
        significant_low = ci is None or ci[1] < 0
        significant_high = ci is None or ci[0] > 0
        if diff < -tolerance and significant_low:
            worse.append(task)
        elif diff > tolerance and significant_high:
            better.append(task)
        else:
            ties.append(task)
    mt, sep = mvs.multitask, mvs.separate
    speed = _ratio(mt.sentences_per_s, sep.sentences_per_s)
    params_ratio = _ratio(sep.parameters, mt.parameters)
    train_ratio = _ratio(sep.train_s, mt.train_s)

    def fmt_task(task: str) -> str:
        q = mvs.quality[task]
        ci = f" (95% CI {q.ci[0]:+.1f} to {q.ci[1]:+.1f})" if q.ci else ""
        return f"{task_row(task).display} {q.diff:+.1f} points{ci}"

    savings = []
    if speed:
        savings.append(f"{speed:.2f}× the throughput of running both single-task models "
                       f"({mt.sentences_per_s:.1f} vs {sep.sentences_per_s:.1f} sentences/s for both tasks)")
    if params_ratio and mt.parameters and sep.parameters:
        savings.append(f"{params_ratio:.2f}× fewer parameters ({mt.parameters / 1e6:.1f}M vs {sep.parameters / 1e6:.1f}M"
                       + (f", {mt.memory_mb:.0f} vs {sep.memory_mb:.0f} MB in memory)" if mt.memory_mb and sep.memory_mb else ")"))
    if train_ratio and train_ratio > 1:
        savings.append(f"less training time ({mt.train_s:.0f} s vs {sep.train_s:.0f} s)")
    training_note = (f" Training it took longer ({mt.train_s:.0f} s vs {sep.train_s:.0f} s for both single-task "
                     "models), a one-off cost." if train_ratio and train_ratio < 1 else "")
    savings_text = "; ".join(savings) if savings else "one encoder pass instead of two"
    deltas = ", ".join(fmt_task(t) for t in mvs.quality if mvs.quality[t].diff is not None)

    if worse:
        choice = "two separate models"
        text = (f"**Two separate models**, because the multi-task model `{mvs.multitask_variant}` is worse than the "
                f"single-task models by more than the {tolerance:g}-point tolerance on "
                f"{' and '.join(task_row(t).display for t in worse)} (multi-task minus separate macro-F1: {deltas}); that "
                f"quality loss outweighs what one model saves: {savings_text}. Where serving cost dominates, the "
                "multi-task model stays the cheaper option at that quality cost.")
    else:
        choice = "one multi-task model"
        gain = (f" and better on {' and '.join(task_row(t).display for t in better)}" if better else "")
        text = (f"**One multi-task model** (`{mvs.multitask_variant}`), because it is nowhere worse than the single-task "
                f"models by more than the {tolerance:g}-point tolerance{gain} (multi-task minus separate macro-F1: "
                f"{deltas}) while it serves both tasks more cheaply: {savings_text}.{training_note}")
    if "task_b" in better:
        text += " Sharing the encoder with the abundant Task A helps the scarce Task B."
    return Decision(choice=choice, text=text, worse=worse, better=better, ties=ties,
                    throughput_ratio=speed, parameter_ratio=params_ratio, train_time_ratio=train_ratio)
