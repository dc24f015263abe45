"""The comparison over all evaluated freeze variants: the variant table, one multi-task model vs two
single-task models (quality with paired-bootstrap intervals, training time, inference throughput, memory,
parameters), a decision paragraph generated from those numbers, and the imbalance ablation table.

Inputs are evaluation folders (``mtst evaluate``): ``metrics.json``, ``variant.json``, ``predictions/``.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtst.config import CompareParams
from mtst.evaluation.errors import ComparisonError
from mtst.evaluation.flatten import flatten
from mtst.io import read_json

CANONICAL = ["frozen", "full", "staged", "head_a_frozen", "single_a", "single_b"]
DOMAINS = ["tweets", "movie", "amazon", "nyt"]
ABLATION_AXES = {  # what a "staged_*" variant may change, recognised from its params diff
    "augmentation": ("augment",),
    "sampling strategy": ("sampling", "temperature", "strategy"),
    "loss weighting": ("weight", "loss"),
    "curriculum": ("curriculum",),
}


@dataclass
class Result:
    variant: str
    eval_dir: Path
    metrics: dict[str, Any]
    info: dict[str, Any]
    mlflow: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return list(self.info.get("tasks") or [t for t in ("task_a", "task_b") if f"{t}.macro_f1" in self.metrics])

    def get(self, key: str) -> float | None:
        value = self.metrics.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def predictions(self, task: str) -> list[dict[str, Any]]:
        path = self.eval_dir / "predictions" / f"{task}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_results(eval_dirs: list[str | Path]) -> list[Result]:
    results = []
    for folder in map(Path, eval_dirs):
        if not (folder / "metrics.json").exists():
            raise ComparisonError(f"{folder} has no metrics.json: run `mtst evaluate` for that variant first")
        info = read_json(folder / "variant.json") if (folder / "variant.json").exists() else {}
        tracked = read_json(folder / "mlflow.json") if (folder / "mlflow.json").exists() else {}
        results.append(Result(str(info.get("variant") or folder.name), folder, read_json(folder / "metrics.json"),
                              info, tracked))
    if not results:
        raise ComparisonError("no evaluation folders to compare")
    return sorted(results, key=order_key)


def order_key(result: Result) -> tuple[int, str]:
    name = result.variant
    if name in CANONICAL:
        return CANONICAL.index(name), name
    return (len(CANONICAL) + (0 if name.startswith("staged_") else 1)), name


# ---- statistics -------------------------------------------------------------------------------------
def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    counts = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    tp = np.diag(counts).astype(float)
    denom = counts.sum(axis=0) + counts.sum(axis=1)
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(f1.mean())


def paired_bootstrap(a: list[dict[str, Any]], b: list[dict[str, Any]], resamples: int, seed: int) -> dict[str, float] | None:
    """Macro-F1 difference (a − b, in points) on the same test rows, with a 95% percentile interval."""
    if not a or not b or resamples <= 0:
        return None
    b_by_id = {r["id"]: r for r in b}
    rows = [(r, b_by_id[r["id"]]) for r in a if r["id"] in b_by_id]
    if len(rows) < len(a) * 0.99:
        return None  # not the same test rows
    labels = sorted({r[key] for pair in rows for r in pair for key in ("label", "predicted")})
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[ra["label"]] for ra, _ in rows])
    pa = np.array([index[ra["predicted"]] for ra, _ in rows])
    pb = np.array([index[rb["predicted"]] for _, rb in rows])
    k = len(labels)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for i in range(resamples):
        s = rng.integers(0, len(y), len(y))
        diffs[i] = macro_f1(y[s], pa[s], k) - macro_f1(y[s], pb[s], k)
    point = macro_f1(y, pa, k) - macro_f1(y, pb, k)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"diff": 100 * point, "low": 100 * float(low), "high": 100 * float(high), "n": len(y), "resamples": resamples}


# ---- inference cost, measured side by side ------------------------------------------------------------
def measure_side_by_side(models: dict[str, Path], texts: list[str], batch_size: int, repeats: int) -> dict[str, dict[str, float]]:
    """Sentences/s of each model on the same sentences, timed in turn (interleaved) in this one process."""
    from mtst.evaluation.speed import model_size
    from mtst.model import MultiTaskSentenceTransformer

    loaded = {name: MultiTaskSentenceTransformer.load(path) for name, path in models.items()}
    for model in loaded.values():
        model.predict_proba(texts[:8], batch_size=batch_size)  # warm-up
    timings: dict[str, list[float]] = {name: [] for name in loaded}
    for _ in range(repeats):
        for name, model in loaded.items():
            start = time.perf_counter()
            model.predict_proba(texts, batch_size=batch_size)
            timings[name].append(time.perf_counter() - start)
    out = {}
    for name, model in loaded.items():
        seconds = statistics.median(timings[name])
        out[name] = {"sentences_per_s": len(texts) / seconds, **model_size(model, models[name])}
    return out


def _sample_texts(splits_dir: Path, n: int, seed: int) -> list[str]:
    from mtst.steps.evaluate import throughput_sample

    return throughput_sample(splits_dir, "test", n, seed)


# ---- the comparison ----------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "–" if value is None else fmt.format(value)


def variant_table(results: list[Result]) -> tuple[list[str], list[list[str]]]:
    header = ["variant", "tasks", "Task A macro-F1", "Task B macro-F1", *[f"B {d}" for d in DOMAINS],
              "A ECE", "B ECE", "train time (s)", "sentences/s", "parameters (M)"]
    rows = []
    for r in results:
        params = r.info.get("params") or {}
        base = params.get("init_from") or (params.get("variant") or {}).get("init_from")
        train_time = _num(r.get("train.wall_s")) + (f" (+ {base})" if base and r.get("train.wall_s") is not None else "")
        rows.append([r.variant, "+".join(t.replace("task_", "") for t in r.tasks).upper(),
                     _pct(r.get("task_a.macro_f1")), _pct(r.get("task_b.macro_f1")),
                     *[_pct(r.get(f"task_b.domain.{d}.macro_f1")) for d in DOMAINS],
                     _num(r.get("task_a.ece"), "{:.3f}"), _num(r.get("task_b.ece"), "{:.3f}"),
                     train_time, _num(r.get("inference.sentences_per_s"), "{:.1f}"),
                     _num((r.get("model.parameters") or 0) / 1e6 if r.get("model.parameters") else None, "{:.2f}")])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["--:" for _ in header[1:]]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def select_champion(results: list[Result], metric: str) -> Result:
    """Best variant by ``metric`` among those that serve every task (single-task models cannot serve both)."""
    all_tasks = sorted({t for r in results for t in r.tasks})
    candidates = [r for r in results if set(r.tasks) >= set(all_tasks) and r.get(metric) is not None]
    if not candidates:
        known = sorted({k for r in results for k in r.metrics})
        raise ComparisonError(f"no variant serving {all_tasks} has the selection metric {metric!r} "
                              f"(compare.selection_metric); metrics.json keys include {known[:12]}")
    return max(candidates, key=lambda r: (r.get(metric), -order_key(r)[0]))


def train_time_total(result: Result, by_name: dict[str, Result]) -> float | None:
    """Wall time including the variant it starts from (``init_from``), as a fresh training would cost."""
    own = result.get("train.wall_s")
    params = result.info.get("params") or {}
    base = params.get("init_from") or (params.get("variant") or {}).get("init_from")  # flat, or the trainer's nesting
    if own is not None and base and base in by_name and by_name[base] is not result:
        base_total = train_time_total(by_name[base], by_name)
        return own + base_total if base_total is not None else own
    return own


def single_task_baselines(results: list[Result]) -> dict[str, Result]:
    out = {}
    for task in ("task_a", "task_b"):
        named = [r for r in results if r.variant == f"single_{task[-1]}" and r.tasks == [task]]
        others = [r for r in results if r.tasks == [task]]
        pool = named or others
        if pool:
            out[task] = max(pool, key=lambda r: r.get(f"{task}.macro_f1") or 0)
    return out


def multitask_vs_separate(champion: Result, singles: dict[str, Result], by_name: dict[str, Result],
                          params: CompareParams) -> dict[str, Any] | None:
    if set(singles) != {"task_a", "task_b"}:
        return None
    a, b = singles["task_a"], singles["task_b"]
    quality = {}
    for task, single in singles.items():
        mt_value, single_value = champion.get(f"{task}.macro_f1"), single.get(f"{task}.macro_f1")
        boot = paired_bootstrap(champion.predictions(task), single.predictions(task), params.bootstrap, params.seed)
        quality[task] = {"multitask": mt_value, "separate": single_value,
                         "diff": 100 * (mt_value - single_value) if None not in (mt_value, single_value) else None,
                         "ci": [boot["low"], boot["high"]] if boot else None}
    domains = {d: {"multitask": champion.get(f"task_b.domain.{d}.macro_f1"),
                   "separate": b.get(f"task_b.domain.{d}.macro_f1")} for d in DOMAINS
               if champion.get(f"task_b.domain.{d}.macro_f1") is not None}

    cost: dict[str, dict[str, Any]] = {}
    measured = False
    model_dirs = {name: Path(r.info.get("model_dir", "")) for name, r in (("multitask", champion), ("task_a", a), ("task_b", b))}
    if params.measure_inference and all((p / "mtst.json").exists() for p in model_dirs.values()):
        splits = Path(champion.info.get("splits_dir") or "artifacts/splits")
        texts = _sample_texts(splits, params.inference_sentences, params.seed)
        cost = measure_side_by_side(model_dirs, texts, params.inference_batch_size, params.inference_repeats)
        measured = True
    else:
        for name, r in (("multitask", champion), ("task_a", a), ("task_b", b)):
            cost[name] = {k.split(".", 1)[1]: r.get(k) for k in ("inference.sentences_per_s", "model.parameters",
                                                                  "model.size_mb", "model.memory_mb")}
    sep_tp = None
    if cost["task_a"].get("sentences_per_s") and cost["task_b"].get("sentences_per_s"):
        sep_tp = 1 / (1 / cost["task_a"]["sentences_per_s"] + 1 / cost["task_b"]["sentences_per_s"])  # both models per sentence

    def total(key: str) -> float | None:
        values = [cost["task_a"].get(key), cost["task_b"].get(key)]
        return float(sum(values)) if None not in values else None

    mt_train, a_train, b_train = (train_time_total(r, by_name) for r in (champion, a, b))
    return {
        "multitask_variant": champion.variant, "separate_variants": [a.variant, b.variant],
        "quality": quality, "task_b_domains": domains, "measured_side_by_side": measured,
        "multitask": {"sentences_per_s": cost["multitask"].get("sentences_per_s"),
                      "parameters": cost["multitask"].get("parameters"),
                      "memory_mb": cost["multitask"].get("memory_mb"), "size_mb": cost["multitask"].get("size_mb"),
                      "train_s": mt_train},
        "separate": {"sentences_per_s": sep_tp, "parameters": total("parameters"), "memory_mb": total("memory_mb"),
                     "size_mb": total("size_mb"),
                     "train_s": a_train + b_train if None not in (a_train, b_train) else None,
                     "task_a_sentences_per_s": cost["task_a"].get("sentences_per_s"),
                     "task_b_sentences_per_s": cost["task_b"].get("sentences_per_s")},
    }


def _ratio(x: float | None, y: float | None) -> float | None:
    return x / y if x and y else None


def decision(mvs: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """The recommendation, generated from the numbers: the multi-task model wins unless it is worse than the
    separate models by more than ``tolerance`` macro-F1 points on some task (and the bootstrap interval
    excludes zero); then quality outweighs its savings."""
    names = {"task_a": "Task A (topic)", "task_b": "Task B (sentiment)"}
    worse, better, ties = [], [], []
    for task, q in mvs["quality"].items():
        diff, ci = q["diff"], q["ci"]
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
    mt, sep = mvs["multitask"], mvs["separate"]
    speed = _ratio(mt["sentences_per_s"], sep["sentences_per_s"])
    params_ratio = _ratio(sep["parameters"], mt["parameters"])
    train_ratio = _ratio(sep["train_s"], mt["train_s"])

    def fmt_task(task: str) -> str:
        q = mvs["quality"][task]
        ci = f" (95% CI {q['ci'][0]:+.1f} to {q['ci'][1]:+.1f})" if q["ci"] else ""
        return f"{names[task]} {q['diff']:+.1f} points{ci}"

    savings = []
    if speed:
        savings.append(f"{speed:.2f}× the throughput of running both single-task models "
                       f"({mt['sentences_per_s']:.1f} vs {sep['sentences_per_s']:.1f} sentences/s for both tasks)")
    if params_ratio and mt["parameters"] and sep["parameters"]:
        savings.append(f"{params_ratio:.2f}× fewer parameters ({mt['parameters'] / 1e6:.1f}M vs {sep['parameters'] / 1e6:.1f}M"
                       + (f", {mt['memory_mb']:.0f} vs {sep['memory_mb']:.0f} MB in memory)" if mt.get("memory_mb") and sep.get("memory_mb") else ")"))
    if train_ratio and train_ratio > 1:
        savings.append(f"less training time ({mt['train_s']:.0f} s vs {sep['train_s']:.0f} s)")
    training_note = (f" Training it took longer ({mt['train_s']:.0f} s vs {sep['train_s']:.0f} s for both single-task "
                     "models), a one-off cost." if train_ratio and train_ratio < 1 else "")
    savings_text = "; ".join(savings) if savings else "one encoder pass instead of two"
    deltas = ", ".join(fmt_task(t) for t in mvs["quality"] if mvs["quality"][t]["diff"] is not None)

    if worse:
        choice = "two separate models"
        text = (f"**Two separate models**, because the multi-task model `{mvs['multitask_variant']}` is worse than the "
                f"single-task models by more than the {tolerance:g}-point tolerance on "
                f"{' and '.join(names[t] for t in worse)} (multi-task minus separate macro-F1: {deltas}); that quality loss "
                f"outweighs what one model saves: {savings_text}. Where serving cost dominates, the multi-task model "
                "stays the cheaper option at that quality cost.")
    else:
        choice = "one multi-task model"
        gain = (f" and better on {' and '.join(names[t] for t in better)}" if better else "")
        text = (f"**One multi-task model** (`{mvs['multitask_variant']}`), because it is nowhere worse than the single-task "
                f"models by more than the {tolerance:g}-point tolerance{gain} (multi-task minus separate macro-F1: "
                f"{deltas}) while it serves both tasks more cheaply: {savings_text}.{training_note}")
    if "task_b" in better:
        text += " Sharing the encoder with the abundant Task A helps the scarce Task B."
    return {"choice": choice, "text": text, "worse": worse, "better": better, "ties": ties,
            "throughput_ratio": speed, "parameter_ratio": params_ratio, "train_time_ratio": train_ratio}


def params_diff(base: dict[str, Any], other: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    fa, fb = flatten(base), flatten(other)
    skip = ("description",)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb))
            if fa.get(k) != fb.get(k) and not k.endswith(skip)}


def ablation(results: list[Result]) -> dict[str, Any] | None:
    by_name = {r.variant: r for r in results}
    base = by_name.get("staged")
    if base is None:
        return None
    variants = [r for r in results if r.variant.startswith("staged_")]
    rows, covered = [], set()
    base_params = {**(base.info.get("params") or {}), "augmented": base.info.get("augmented")}
    for r in [base, *variants]:
        diff = params_diff(base_params, {**(r.info.get("params") or {}), "augmented": r.info.get("augmented")}) if r is not base else {}
        axes = sorted({axis for axis, words in ABLATION_AXES.items() for key in diff if any(w in key for w in words)})
        covered.update(axes)
        shown = "; ".join(f"{k}: {_short(v[0])} → {_short(v[1])}" for k, v in list(diff.items())[:3])
        if len(diff) > 3:
            shown += f"; +{len(diff) - 3} more"
        rows.append({
            "variant": r.variant, "changes": "(reference)" if r is base else (shown or "no parameter differs"),
            "axes": axes, "augmented": r.info.get("augmented"),
            "task_a": r.get("task_a.macro_f1"), "task_b": r.get("task_b.macro_f1"),
            "delta_a": None if r is base or None in (r.get("task_a.macro_f1"), base.get("task_a.macro_f1"))
            else 100 * (r.get("task_a.macro_f1") - base.get("task_a.macro_f1")),
            "delta_b": None if r is base or None in (r.get("task_b.macro_f1"), base.get("task_b.macro_f1"))
            else 100 * (r.get("task_b.macro_f1") - base.get("task_b.macro_f1")),
            "train_s": r.get("train.wall_s"),
        })
    return {"rows": rows, "covered": sorted(covered), "missing": [a for a in ABLATION_AXES if a not in covered]}


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


# ---- report ------------------------------------------------------------------------------------------
def build(results: list[Result], params: CompareParams) -> dict[str, Any]:
    by_name = {r.variant: r for r in results}
    champion = select_champion(results, params.selection_metric)
    singles = single_task_baselines(results)
    mvs = multitask_vs_separate(champion, singles, by_name, params)
    return {
        "variants": [{"variant": r.variant, "description": r.info.get("description", ""), "tasks": r.tasks,
                      "metrics": r.metrics} for r in results],
        "selection_metric": params.selection_metric, "champion": champion.variant,
        "champion_value": champion.get(params.selection_metric),
        "multitask_vs_separate": mvs, "decision": decision(mvs, params.tolerance) if mvs else None,
        "ablation": ablation(results),
    }


def render_markdown(report: dict[str, Any], results: list[Result], params: CompareParams, chart_name: str) -> str:
    header, rows = variant_table(results)
    parts = ["# Freeze variants: multi-task sentence transformer", "",
             f"Test-set macro-F1 in %, {len(results)} variants. Selection metric `{params.selection_metric}`: "
             f"**{report['champion']}** ({report['champion_value']:.4f}); whether it takes "
             f"`{params.registered_model}@{params.alias}`: see [Model registry](#model-registry).", "",
             markdown_table(header, rows), "", f"![comparison chart]({chart_name})", ""]
    parts += ["## Variants", ""] + [f"- **{v['variant']}**: {v['description'] or '(no description)'}"
                                     for v in report["variants"]] + [""]
    mvs = report["multitask_vs_separate"]
    parts += ["## One multi-task model vs two single-task models", ""]
    if mvs is None:
        parts += ["Not available: the comparison needs the single-task variants `single_a` and `single_b`.", ""]
    else:
        mt, sep = mvs["multitask"], mvs["separate"]

        def q(task: str, side: str) -> str:
            return _pct(mvs["quality"][task][side])

        def ci(task: str) -> str:
            c = mvs["quality"][task]["ci"]
            d = mvs["quality"][task]["diff"]
            return "–" if d is None else f"{d:+.1f}" + (f" [{c[0]:+.1f}, {c[1]:+.1f}]" if c else "")

        table = [
            ["Task A macro-F1", q("task_a", "multitask"), q("task_a", "separate"), ci("task_a")],
            ["Task B macro-F1", q("task_b", "multitask"), q("task_b", "separate"), ci("task_b")],
            *[[f"Task B {d} macro-F1", _pct(v["multitask"]), _pct(v["separate"]),
               "–" if None in (v["multitask"], v["separate"]) else f"{100 * (v['multitask'] - v['separate']):+.1f}"]
              for d, v in mvs["task_b_domains"].items()],
            ["training time (s)", _num(mt["train_s"]), _num(sep["train_s"]), ""],
            ["sentences/s, both tasks", _num(mt["sentences_per_s"], "{:.1f}"), _num(sep["sentences_per_s"], "{:.1f}"),
             _ratio_text(mt["sentences_per_s"], sep["sentences_per_s"])],
            ["parameters (M)", _num((mt["parameters"] or 0) / 1e6, "{:.2f}"), _num((sep["parameters"] or 0) / 1e6, "{:.2f}"),
             _ratio_text(sep["parameters"], mt["parameters"], "fewer")],
            ["parameter memory (MB)", _num(mt["memory_mb"], "{:.0f}"), _num(sep["memory_mb"], "{:.0f}"), ""],
            ["model size on disk (MB)", _num(mt["size_mb"], "{:.0f}"), _num(sep["size_mb"], "{:.0f}"), ""],
        ]
        parts += [markdown_table(["", f"multi-task `{mvs['multitask_variant']}`",
                                  f"separate `{mvs['separate_variants'][0]}` + `{mvs['separate_variants'][1]}`",
                                  "difference (points) [95% CI]"], table), ""]
        how = ("timed side by side in this process on the same sentences"
               if mvs["measured_side_by_side"] else "as timed by each evaluation")
        parts += [f"Throughput for both tasks: the multi-task model needs one encoder pass per sentence, the separate "
                  f"models two (sentences/s = 1 / (1/a + 1/b)); {how}. Paired bootstrap ({params.bootstrap} resamples) "
                  "over the same test rows.", ""]
        parts += ["### Decision", "", report["decision"]["text"], ""]
    abl = report["ablation"]
    parts += ["## Imbalance ablation (the scarce Task B)", ""]
    if abl is None:
        parts += ["Not available: no `staged` variant was evaluated.", ""]
    else:
        table = [[r["variant"], r["changes"], "yes" if r["augmented"] else "no", _pct(r["task_a"]), _pct(r["task_b"]),
                  "" if r["delta_a"] is None else f"{r['delta_a']:+.1f}", "" if r["delta_b"] is None else f"{r['delta_b']:+.1f}",
                  _num(r["train_s"])] for r in abl["rows"]]
        parts += [markdown_table(["variant", "what differs from staged", "augmented", "Task A macro-F1",
                                  "Task B macro-F1", "Δ A", "Δ B", "train time (s)"], table), ""]
        parts += [f"Covered: {', '.join(abl['covered']) or 'none'}. "
                  + (f"Not run in this profile: {', '.join(abl['missing'])} (the `staged_*` variants of params.yaml: add them to `variants` in dvc.yaml, or `mtst train` + `mtst evaluate` them)."
                     if abl["missing"] else "Every axis (augmentation, sampling, loss weighting, curriculum) is covered."), ""]
    parts += ["## Model registry", "", registry_text(report.get("registry"), params), ""]
    return "\n".join(parts)


def registry_text(registry: dict[str, Any] | None, params: CompareParams) -> str:
    """The alias decision of ``mtst.registry.settle`` in a paragraph: promoted or kept, with both models."""
    target = f"`{params.registered_model}@{params.alias}`"
    if registry is None:
        return f"Tracking is off: nothing was registered and {target} was not touched."
    if "candidate" not in registry:
        return f"Nothing was registered ({registry['reason']}); {target} was not touched."
    name, cand, prev = registry["name"], registry["candidate"], registry["previous"]

    def model(m: dict[str, Any]) -> str:
        value = "no recorded value" if m["value"] is None else f"{m['metric']} {m['value']:.4f}"
        return f"version {m['version']} (`{m['variant']}`, {value}, test-set hash {str(m['test_data_hash'])[:12]})"

    if registry["decision"] == "promoted":
        replaced = f", replacing {model(prev)}" if prev else ""
        return (f"**Promoted**: {target} now points at `{name}` {model(cand)}{replaced}, because "
                f"{registry['reason']}.")
    if prev is not None and prev["version"] == cand["version"]:
        return f"**Kept**: {target} stays on `{name}` {model(prev)}, because {registry['reason']}."
    return (f"**Kept**: {target} stays on `{name}` {model(prev)}; this run's best model is registered as "
            f"{model(cand)} without the alias, because {registry['reason']}. `mtst predict` without `--model` keeps "
            "using the champion; run `mtst compare --force-champion` (or set `compare.force_champion: true`) to move it.")


def _ratio_text(x: float | None, y: float | None, word: str = "") -> str:
    r = _ratio(x, y)
    return "" if r is None else f"{r:.2f}×" + (f" {word}" if word else "")


def chart_rows(results: list[Result]) -> list[dict[str, Any]]:
    return [{"variant": r.variant, "task_a": r.get("task_a.macro_f1"), "task_b": r.get("task_b.macro_f1"),
             "domains": {d: r.get(f"task_b.domain.{d}.macro_f1") for d in DOMAINS
                         if r.get(f"task_b.domain.{d}.macro_f1") is not None}} for r in results]
