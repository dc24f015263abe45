"""Output paths are safe to share (issue 31, items 4, 7 and 8): two writers of one output path never mix (the
second fails at once naming the first), names from params or MLflow never become paths outside their root, lock
files are never written through a link, temporaries stay apart across pods, and nothing of the user's is
overwritten by surprise (`predict -o`, `make clean`). Real processes, a real MLflow store, a real git clone."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtst.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mtst.io import atomic_dir, atomic_path

    kind, out, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    with (atomic_dir if kind == "folder" else atomic_path)(out) as tmp:
        (tmp / "result.txt" if kind == "folder" else tmp).write_text("first writer")
        ready.touch()
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
""")

WRITE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mtst.io import atomic_dir, atomic_path

    kind, out = sys.argv[1], Path(sys.argv[2])
    with (atomic_dir if kind == "folder" else atomic_path)(out) as tmp:
        (tmp / "result.txt" if kind == "folder" else tmp).write_text("second writer")
""")


def _python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_second_writer_of_one_output_path_fails_at_once_and_the_first_completes(kind, tmp_path):
    out, ready, go = tmp_path / "out" / "target", tmp_path / "ready", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", HOLD, kind, str(out), str(ready), str(go)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first writer never reached its block"
            time.sleep(0.02)
        began = time.monotonic()
        second = _python("-c", WRITE, kind, str(out))
        assert second.returncode != 0 and "FolderLocked" in second.stderr
        assert f"is in use by process {first.pid} on " in second.stderr, second.stderr
        assert time.monotonic() - began < 60  # refused, not queued behind the first
        if kind == "folder":  # a step's command: refused with exit code 2, naming the holder, before any work
            export = _python("-m", "mtst.cli", "export", "--model", str(tmp_path / "no-model"), "--out", str(out))
            assert export.returncode == 2 and f"in use by process {first.pid}" in export.stderr, export.stderr
    finally:
        go.touch()
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    written = out / "result.txt" if kind == "folder" else out
    assert written.read_text() == "first writer"
    assert sorted(p.name for p in out.parent.iterdir()) == ["target"]  # no temporaries, no lock file left


def test_a_step_holding_its_folder_writes_it_and_leaves_no_lock_file(tmp_path):
    from mtst.io import atomic_dir, write_json
    from mtst.locking import folder_lock

    out = tmp_path / "train" / "frozen"
    with folder_lock(out, "output folder"), atomic_dir(out) as tmp:  # train: the lock first, then its folder
        write_json(tmp / "model" / "config.json", {"ok": True})  # inside the unfinished folder: no lock of its own
    assert sorted(p.name for p in out.parent.iterdir()) == ["frozen"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [".mtst-output", "model", "model/config.json"]


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_planted_lock_file_is_refused_and_its_target_never_truncated(link, tmp_path):
    from mtst.io import atomic_dir
    from mtst.locking import FolderLocked, folder_lock

    precious = tmp_path / "precious.txt"
    precious.write_text("the user's file\n")
    out = tmp_path / "shared" / "export"
    out.parent.mkdir()
    lock = out.parent / ".export.lock"
    (os.symlink if link == "symlink" else os.link)(precious, lock)
    for attempt in (lambda: folder_lock(out, "output folder"), lambda: atomic_dir(out)):
        with pytest.raises(FolderLocked, match=re.escape(f"lock file {lock} is")):
            with attempt():
                pass
    assert precious.read_text() == "the user's file\n" and not out.exists()


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "x\\y", "/abs"])
def test_an_unsafe_variant_name_is_refused_from_params_and_layout(name, tmp_path):
    from pydantic import ValidationError

    from mtst.dag import LAYOUT, stage
    from mtst.kfp.checkpoints import task_checkpoints
    from mtst.plan import model_dir
    from mtst.sections import PipelineParams
    from mtst.training.schema import TrainParams

    recipe = {"stages": [{"name": "heads", "encoder": "frozen"}]}
    with pytest.raises(ValidationError, match="not a safe folder name"):
        TrainParams.model_validate({"variants": {name: recipe}})
    with pytest.raises(ValidationError, match="not a safe folder name"):
        TrainParams.model_validate({"variants": {"ok": {**recipe, "init_from": name}}})
    with pytest.raises(ValidationError, match="not a safe folder name"):
        PipelineParams.model_validate({"variants": [name]})
    for path in (LAYOUT.train, LAYOUT.evaluation, LAYOUT.metrics, lambda v: stage("train").argv(v),
                 lambda v: model_dir(tmp_path, v)):
        with pytest.raises(ConfigError, match="not a safe folder name"):
            path(name)
    root = tmp_path / "pvc" / "checkpoints"
    root.mkdir(parents=True)
    with pytest.raises(ConfigError, match="not a safe folder name"):  # a kfp task's folder on a shared volume
        task_checkpoints(str(root), "run1", name)
    assert [p.name for p in (tmp_path / "pvc").iterdir()] == ["checkpoints"] and not any(root.iterdir())


def test_a_checkpoint_folder_that_links_out_of_its_volume_is_refused(tmp_path):
    from mtst.kfp.checkpoints import task_checkpoints

    root, elsewhere = tmp_path / "pvc", tmp_path / "elsewhere"
    (root / "run1").mkdir(parents=True)
    elsewhere.mkdir()
    (root / "run1" / "staged").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError, match="outside"):
        task_checkpoints(str(root), "run1", "staged")
    assert not any(elsewhere.iterdir())
    assert task_checkpoints(str(root), "run1", "frozen").folder == root / "run1" / "frozen"


def test_a_variant_tag_from_mlflow_never_becomes_a_path_outside_the_download_folder(tmp_path):
    from mtst.comparison.earlier_runs import _download
    from mtst.config import TrackingParams
    from mtst.run_tags import VARIANT
    from mtst.tracking import Tracker
    from mtst.tracking.comparison import EVALUATION_ARTIFACTS

    tracker = Tracker.open(TrackingParams(), uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = tracker.client.create_run(tracker.experiment_id, tags={VARIANT: "../escaped"}).info.run_id
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "metrics.json").write_text('{"task_a.macro_f1": 0.5}\n')
    tracker.client.log_artifact(run_id, str(tmp_path / "records" / "metrics.json"), EVALUATION_ARTIFACTS)
    run = tracker.client.get_run(run_id)

    scratch = tmp_path / "scratch"
    workdir = scratch / "earlier"
    workdir.mkdir(parents=True)
    with pytest.raises(ConfigError, match=re.escape(f"MLflow run {run_id}'s tag {VARIANT} '../escaped' is not a safe")):
        _download(tracker, run.data.tags[VARIANT], run, workdir)
    assert [p.name for p in scratch.iterdir()] == ["earlier"] and not any(workdir.iterdir())


def test_temporary_names_differ_across_hosts_and_recover_spares_another_hosts_live_writer(tmp_path):
    from mtst.io import atomic_path, recover, temp_prefix

    out = tmp_path / "shared" / "metrics.json"
    out.parent.mkdir()
    assert temp_prefix(out, host="pod-a") != temp_prefix(out, host="pod-b")  # the same pid on two pods
    assert temp_prefix(out, host="pod-a.cluster.local").count(".") == temp_prefix(out, host="pod-a").count(".")

    def left_by(host: str | None, alive: bool) -> Path:
        """A temporary as a writer on ``host`` names it: this process (alive) or a child that has exited."""
        if alive:
            prefix = temp_prefix(out, host=host)
        else:
            prefix = _python("-c", f"from mtst.io import temp_prefix; print(temp_prefix({str(out)!r}, host={host!r}))",
                             check=True).stdout.strip()
        path = out.parent / f"{prefix}k3y9.tmp"
        path.write_text("partial")
        return path

    killed_here = left_by(None, alive=False)
    other_pod_same_pid = left_by("other-pod", alive=True)  # pids repeat across pods: this one is not ours
    other_pod_exited = left_by("other-pod", alive=False)  # its pid means nothing on this host
    recover(out)
    assert not killed_here.exists()
    assert other_pod_same_pid.exists() and other_pod_exited.exists()
    with atomic_path(out) as tmp:  # holding the path's lock: every writer of it is gone, on any host
        tmp.write_text("{}\n")
    assert sorted(p.name for p in out.parent.iterdir()) == ["metrics.json"]


# ---- predict -o: never the input, never a file mtst did not write (unless --force) --------------------------
runner = CliRunner()


@pytest.fixture(scope="module")
def model_folder(base_model, tmp_path_factory) -> Path:
    """A saved model folder (untrained heads: what it predicts does not matter here, that it writes does)."""
    folder = tmp_path_factory.mktemp("model") / "model"
    base_model.save(folder)
    return folder


def _predict(model: Path, source: Path, out: Path, *extra: str):
    from mtst.cli import app

    return runner.invoke(app, ["predict", "--model", str(model), "--input", str(source), "--output", str(out),
                               "--params", str(ROOT / "params.yaml"), *extra])


def test_predict_refuses_to_write_over_its_input(model_folder, tmp_path):
    source = tmp_path / "sentences.jsonl"
    source.write_text('{"text": "Stocks rallied after the results."}\n{"text": "What a lovely day."}\n')
    before = source.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(source)
    os.link(source, tmp_path / "hard.jsonl")
    for out in (source, tmp_path / "link.jsonl", tmp_path / "hard.jsonl"):
        for extra in ((), ("--force",)):
            result = _predict(model_folder, source, out, *extra)
            assert result.exit_code == 2 and "[output_is_input]" in result.output, (out, extra, result.output)
    assert source.read_bytes() == before and (tmp_path / "link.jsonl").is_symlink()


def test_predict_replaces_only_its_own_output_unless_forced(model_folder, tmp_path):
    source = tmp_path / "sentences.csv"
    source.write_text("text\nStocks rallied after the results.\nWhat a lovely day.\n")
    out = tmp_path / "predictions.jsonl"
    out.write_text('{"note": "my own file"}\n')
    refused = _predict(model_folder, source, out)
    assert refused.exit_code == 2 and "[overwrite]" in refused.output and "--force" in refused.output
    assert out.read_text() == '{"note": "my own file"}\n'

    forced = _predict(model_folder, source, out, "--force")
    assert forced.exit_code == 0, forced.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in rows] == [1, 2]

    again = _predict(model_folder, source, out)  # written by mtst predict: replaced without --force
    assert again.exit_code == 0, again.output
    assert len(out.read_text().splitlines()) == 2


# ---- make clean: outputs only; the MLflow store goes only with clean-store CONFIRM=yes ----------------------
def test_make_clean_keeps_the_mlflow_store_and_tracked_files(tmp_path):
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.skip("needs make and git")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(clone)], check=True, timeout=120)
    shutil.copyfile(ROOT / "Makefile", clone / "Makefile")  # the working tree's targets, not the last commit's
    tracked = {p: (clone / p).read_bytes() for p in subprocess.run(
        ["git", "ls-files", "reports", "metrics", "artifacts", "plots"], cwd=clone, capture_output=True, text=True,
        check=True).stdout.split()}
    assert tracked, "the clone has no tracked file under the output folders to keep"
    store = {"mlflow.db": b"SQLite format 3\x00", "mlruns/0/meta.yaml": b"name: Default\n",
             "mlartifacts/1/model/MLmodel": b"flavors: {}\n"}
    outputs = ["artifacts/train/frozen/model.bin", "metrics/frozen.json", "reports/comparison.md", "plots/x.png"]
    for path, content in [*store.items(), *((p, b"output") for p in outputs)]:
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_bytes(content)

    result = subprocess.run(["make", "clean"], cwd=clone, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert {p: (clone / p).read_bytes() for p in store} == store
    assert {p: (clone / p).read_bytes() for p in tracked} == tracked
    assert not any((clone / p).exists() for p in outputs)

    unconfirmed = subprocess.run(["make", "clean-store"], cwd=clone, capture_output=True, text=True, timeout=120)
    assert unconfirmed.returncode != 0 and "CONFIRM=yes" in unconfirmed.stderr
    assert all((clone / p).exists() for p in store)
    confirmed = subprocess.run(["make", "clean-store", "CONFIRM=yes"], cwd=clone, capture_output=True, text=True,
                               timeout=120)
    assert confirmed.returncode == 0, confirmed.stderr
    assert not any((clone / p).exists() for p in ("mlflow.db", "mlruns", "mlartifacts"))
    assert {p: (clone / p).read_bytes() for p in tracked} == tracked
