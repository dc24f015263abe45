"""Every step is kill-safe: the real `mtst` command, SIGKILLed at seeded random moments and at the commit
instants (mtst.failpoints), leaves its previous outputs or none, never partial ones, and its re-run gives the
clean run's files (see tests/faults; benchmarks/fault_injection.py runs the same with more kills).

The quick steps run in `make test`; augment, and evaluate / compare / predict (which need a trained model) are
marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults import (
    MARKER,
    Kill,
    Rerun,
    Step,
    Workspace,
    classify,
    compare_rerun,
    copy_outputs,
    format_table,
    inject,
    pipeline_steps,
    prepare_inputs,
    snapshot,
)

SEED = 12
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, repo_root: Path) -> Workspace:
    return Workspace.create(tmp_path_factory.mktemp("kill-safety"), repo_root)




@pytest.mark.parametrize("name", ["fetch", "prepare", "validate", pytest.param("augment", marks=SLOW),
                                  pytest.param("evaluate", marks=SLOW),
                                  pytest.param("compare", marks=SLOW),
                                  pytest.param("predict", marks=SLOW)])
def test_a_killed_step_leaves_previous_or_no_output_and_reruns_identically(workspace: Workspace, data_dir: Path,
                                                                           name: str) -> None:
    steps = pipeline_steps("smoke")
    prepare_inputs(workspace, steps, name, data=data_dir)
    # one seeded timer kill, and one between the two renames of the folder replace (where there is one): the
    # instant that needs mtst.io.recover; the benchmark also kills just before the replace
    failpoints = [p for p in steps[name].failpoints if p.startswith("io.between_renames")]
    report = inject(workspace, steps[name], kills=1, seed=SEED, failpoints=failpoints)
    details = format_table([report]) + "\n" + json.dumps(report.summary(), indent=1)

    assert all(k.killed_mid_run for k in report.kills[1:]), f"a failpoint was not reached:\n{details}"
    assert report.partial == 0, f"partial or mixed old/new outputs:\n{details}"
    assert report.rerun_identical, f"re-run differs from the clean run:\n{details}"
    assert not report.metric_differences, details
    assert not report.strays_after_rerun, f"temporaries the re-run did not clear:\n{details}"


# ---- the checker itself: it must see what it is there to see ------------------------------------------
def _outputs(root: Path, text: str) -> None:
    (root / "out").mkdir(parents=True, exist_ok=True)
    (root / "out" / "a.jsonl").write_text(text)
    (root / "out" / "report.json").write_text(json.dumps({"f1": 0.5, "seconds": 1.0}))
    (root / "metrics.json").write_text(json.dumps({"f1": 0.5}))


def test_the_checker_tells_previous_new_absent_partial_and_mixed(tmp_path: Path) -> None:
    step = Step("demo", (), ("out", "metrics.json"), volatile=("out/report.json",))
    ref_root, prev_root, root = tmp_path / "ref", tmp_path / "prev", tmp_path / "ws"
    _outputs(ref_root, '{"id": 1}\n{"id": 2}\n')
    reference = snapshot(ref_root, step.outputs)
    copy_outputs(ref_root, prev_root, step.outputs, marker=MARKER)
    previous = snapshot(prev_root, step.outputs)

    copy_outputs(prev_root, root, step.outputs)
    assert classify(step, root, snapshot(root, step.outputs), previous, reference) == \
        {"out": "previous", "metrics.json": "previous"}

    _outputs(root, '{"id": 1}\n{"id": 2}\n')  # a new run: the volatile report.json timing differs, still new
    (root / "out" / "report.json").write_text(json.dumps({"f1": 0.5, "seconds": 7.0}))
    assert classify(step, root, snapshot(root, step.outputs), previous, reference) == \
        {"out": "new", "metrics.json": "new"}
    rerun = compare_rerun(step, root, ref_root, reference, snapshot(root, step.outputs))
    assert rerun.identical_files and not rerun.metric_differences and rerun.volatile_bytes == ["out/report.json"]

    (root / "out" / "report.json").write_text(json.dumps({"f1": 0.6, "seconds": 7.0}))  # a metric changed
    rerun = compare_rerun(step, root, ref_root, reference, snapshot(root, step.outputs))
    assert rerun.metric_differences == ["out/report.json: f1"]

    (root / "out" / "a.jsonl").write_text('{"id": 1}\n{"i')  # cut mid-write
    (root / "metrics.json").unlink()
    states = classify(step, root, snapshot(root, step.outputs), previous, reference)
    assert states == {"out": "partial", "metrics.json": "absent"}

    _outputs(root, '{"id": 1}\n{"id": 2}\n')  # new folder next to the old metrics file
    copy_outputs(prev_root, root, ["metrics.json"])
    kill = Kill(0, "after 1 s", True, True, classify(step, root, snapshot(root, step.outputs), previous, reference),
                [], [], Rerun())
    assert kill.states == {"out": "new", "metrics.json": "previous"} and kill.mixed


def test_strays_are_found_where_interrupted_writes_leave_them(tmp_path: Path, repo_root: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", repo_root)
    (ws.root / "artifacts" / ".splits.123.abc.tmp").mkdir(parents=True)
    (ws.root / "artifacts" / ".splits.old").mkdir()
    (ws.root / "artifacts" / "splits").mkdir()
    (ws.root / "tmp" / "mtst-gx-x").mkdir()
    (ws.root / "tmp" / "torchinductor_root").mkdir()  # a cache, not a leftover
    assert ws.strays() == ["artifacts/.splits.123.abc.tmp", "artifacts/.splits.old", "tmp/mtst-gx-x"]
    ws.clear_strays()
    assert ws.strays() == [] and (ws.root / "artifacts" / "splits").is_dir()


def test_timings_are_loose_on_a_rerun_and_scores_are_not():
    """The serving table's rates, ratio and reason (which quotes the ratio) differ between clean runs; its
    scores and its choice must not."""
    from faults import loose_key

    for key in ("serving.rows.0.task_sentences_per_s.task_a", "serving.rows.0.sentences_per_s",
                "serving.rows.2.ratio_to_torch", "serving.reason", "rows.0.wall_s", "mlflow.run_id"):
        assert loose_key(key), key
    for key in ("serving.rows.0.macro_f1.task_a", "serving.rows.0.change_vs_torch.task_b", "serving.chosen",
                "serving.rows.1.size_mb", "champion", "reason"):
        assert not loose_key(key), key
