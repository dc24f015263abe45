"""The `mtst` command as users run it: a real subprocess for exit codes, CliRunner for the rest."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from mtst.cli import app

runner = CliRunner()


def test_embed_prints_similarity_matrix_for_a_few_sentences():
    result = runner.invoke(app, ["embed", "Stocks fell sharply today.", "Markets dropped steeply today.",
                                 "I adore this lovely film."])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.strip().startswith("[") and ":" not in line]
    matrix = np.array([[float(v) for v in line.split("]", 1)[1].split()] for line in rows[1:]])
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-3)
    assert matrix[0, 1] > matrix[0, 2] + 0.2  # the two market sentences are closer than the film review


def test_embed_file_to_npy_and_jsonl(tmp_path):
    source = tmp_path / "s.txt"
    source.write_text("first sentence here\n\nsecond sentence here\n")
    for out in (tmp_path / "e.npy", tmp_path / "e.jsonl"):
        result = runner.invoke(app, ["embed", "--file", str(source), "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "e.npy").shape == (2, 384)
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 2


def test_bad_user_file_exits_nonzero_with_clear_message(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": 1\n')
    proc = subprocess.run([sys.executable, "-m", "mtst.cli", "embed", "--file", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bad.jsonl" in proc.stderr and "Traceback" not in proc.stderr


def test_invalid_params_name_the_key(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("prepare:\n  task_b_train_limt: 5\n")
    result = runner.invoke(app, ["data", "prepare", "--params", str(params)])
    assert result.exit_code == 2
    assert "task_b_train_limt" in result.output


def test_params_use_writes_profile_values(tmp_path, repo_root):
    import shutil

    import yaml

    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(repo_root / "profiles", tmp_path / "profiles")
    result = runner.invoke(app, ["params", "use", "smoke", "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 0, result.output
    merged = yaml.safe_load((tmp_path / "params.yaml").read_text())
    smoke = yaml.safe_load((repo_root / "profiles" / "smoke.yaml").read_text())
    assert merged["prepare"] == {**merged["prepare"], **smoke["prepare"]}
    assert merged["data"] == yaml.safe_load((repo_root / "params.yaml").read_text())["data"]


def test_console_entry_freezes_the_heap_and_keeps_exit_codes_and_atexit_handlers(tmp_path):
    """`mtst` runs through `mtst.cli:main`, which freezes the heap before the interpreter shuts down (see its
    docstring): the exit code, the output and the atexit handlers are those of the app itself."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "mtst"]
    assert script.value == "mtst.cli:main"
    probe = ("import atexit, gc, sys; from mtst.cli import main; "
             "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0, flush=True)); "
             "sys.argv = ['mtst', *sys.argv[1:]]; main()")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": 1\n')
    ok = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True, text=True)
    failed = subprocess.run([sys.executable, "-c", probe, "embed", "--file", str(bad)], capture_output=True, text=True)
    assert ok.returncode == 0 and "Usage: mtst" in ok.stdout, ok.stderr
    assert failed.returncode == 2 and "bad.jsonl" in failed.stderr, failed.stderr
    for proc in (ok, failed):
        assert proc.stdout.rstrip().endswith("frozen at exit: True"), proc.stdout


def test_embed_replaces_only_its_own_output_unless_forced(tmp_path):
    """An existing --out is replaced when `mtst embed` wrote it (JSONL) or with --force; never the input."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"text": "first sentence here"}\n{"text": "second sentence here"}\n')
    notes, out = tmp_path / "notes.jsonl", tmp_path / "e.jsonl"
    notes.write_text('{"mine": 1}\n')
    refused = runner.invoke(app, ["embed", "--file", str(source), "--out", str(notes)])
    assert refused.exit_code == 2 and "[overwrite]" in refused.output and notes.read_text() == '{"mine": 1}\n'
    for _ in range(2):  # the second run replaces the first's output
        assert runner.invoke(app, ["embed", "--file", str(source), "--out", str(out)]).exit_code == 0
    forced = runner.invoke(app, ["embed", "--file", str(source), "--out", str(notes), "--force"])
    assert forced.exit_code == 0 and len(notes.read_text().splitlines()) == 2
    itself = runner.invoke(app, ["embed", "--file", str(source), "--out", str(source), "--force"])
    assert itself.exit_code == 2 and "[output_is_input]" in itself.output and source.read_text().count("\n") == 2
