"""The load test (``benchmarks/serve_load.py``) runs end to end in a tiny configuration: it starts the real
server on loopback, runs every scenario for a few requests with the malformed-request prober, stops the server,
measures the same backend offline and writes its report; nothing it sends in good faith fails and every
malformed request is refused with a 4xx. Interrupted (SIGTERM, as Ctrl-C), it stops the server and writes nothing;
given a host that is not loopback, it starts nothing. Figures are not asserted (they belong in the report)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.serve import require_serving_venv

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"


def _benchmark(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCHMARK), *args], capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=BENCHMARK.parents[1])


def _left_running(marker: Path) -> list[str]:
    """Processes whose command line names ``marker`` (the benchmark's work folder: the server's MLServer folder)."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(marker) in part for part in process.info["cmdline"] or ()):
            found.append(" ".join(process.info["cmdline"]))
    return found


def test_the_load_test_refuses_a_target_that_is_not_loopback(tmp_path):
    result = _benchmark("--host", "192.0.2.1", "--work", str(tmp_path), "--out", str(tmp_path / "b.json"), timeout=60)
    assert result.returncode != 0 and "not a loopback address" in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())  # refused before anything was started or written


def test_a_tiny_load_test_serves_every_scenario_without_errors(tmp_path):
    require_serving_venv()
    out = tmp_path / "bench.json"
    result = _benchmark("--work", str(tmp_path / "work"), "--out", str(out), "--max-requests", "6",
                        "--max-seconds", "30", "--offline-seconds", "1", "--no-progress", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not _left_running(tmp_path / "work" / "serving")
    report = json.loads(out.read_text())
    sys.path.insert(0, str(BENCHMARK.parent))
    try:
        from serve_load import SCENARIOS
    finally:
        sys.path.remove(str(BENCHMARK.parent))
    assert [row["scenario"] for row in report["scenarios"]] == [s.name for s in SCENARIOS]
    for row in report["scenarios"]:
        assert row["errors"] == 0, (row["scenario"], row["error examples"])
        assert row["requests"] == 6 and row["p99 ms"] >= row["p50 ms"] > 0, row
        assert row["sentences/s"] == pytest.approx(row["requests/s"] * row["batch"])
    malformed = report["scenarios"][-1]["malformed"]
    assert malformed and all(m["answered_4xx"] == m["sent"] > 0 for m in malformed.values()), malformed
    assert report["offline"]["sentences/s"] > 0 and report["offline"]["backend"] == report["settings"]["backend"]
    assert set(report["targets"]) == {"served_vs_offline", "p99_ms", "soak_errors", "malformed_ms"}
    assert report["targets"]["soak_errors"]["met"] is False  # 6 requests are not 10,000: the flag says so
    assert report["host"]["instruction_sets"] is not None
    assert out.with_suffix(".md").read_text().count("| ") > 10 and out.with_suffix(".png").stat().st_size > 0


def test_an_interrupted_load_test_stops_the_server_and_writes_nothing(tmp_path):
    require_serving_venv()
    out, work = tmp_path / "bench.json", tmp_path / "work"
    child = subprocess.Popen([sys.executable, str(BENCHMARK), "--work", str(work), "--out", str(out), "--max-seconds",
                              "60", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=BENCHMARK.parents[1])
    try:
        for line in child.stdout:  # the first scenario is under way: the server is up and loaded
            if "requests in" in line:
                break
        assert _left_running(work / "serving"), "the server was not running"
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode != 0 and "interrupted: the server was stopped, nothing written" in stderr, stderr
    deadline = time.monotonic() + 10
    while _left_running(work / "serving") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _left_running(work / "serving")
    assert not out.exists() and not out.with_suffix(".md").exists() and not out.with_suffix(".png").exists()
