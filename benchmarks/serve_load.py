"""Load test of the served model (not a test): ``mtst serve`` on loopback under closed- and open-loop load,
against the same backend's offline batched throughput measured in the same run.

Why: a server that answers one request at a time scores a fraction of what its model scores offline, and one that
accepts anything can be taken down by one client. This starts the server itself (loopback only), waits for it
to be ready, and runs, each scenario bounded by a request count AND a wall time:

- closed loop: 1, 4 and 16 clients sending one sentence each, and 4 clients sending 32 sentences each (a
  client sends its next request when the previous answer arrived);
- open loop: single sentences at a fixed rate (``--rate``; by default half of what 16 clients achieved),
  latency counted from when a request was due, so a server that falls behind shows it;
- soak: 16 clients for 10,000 requests, while a prober sends malformed requests (over the row cap, over the
  characters per text, a number, a null, an empty text, an oversized body; each on its own connection), all
  of which must be answered 4xx at once.

Then it stops the server and, in a fresh process, loads the export the server ran with the backend it ran
(``mtst.export.load_backend``) and scores the same sentences at batch 32. The targets of issue 32 are reported
as flags (``targets`` in the JSON): 16 clients serve >= 70% of the offline sentences/s with p99 <= 250 ms;
10,000 requests without an error; every malformed request 4xx within 100 ms.

The client is threads with one keep-alive ``http.client`` connection each, the request bodies encoded before
the clock starts: against a stub server it took less CPU a request than aiohttp's client, and on 2 cores every
CPU cycle the client takes is one the server does not get. The table shows the client's CPU per request and in
cores next to the server's, so whether the client limited a run can be read off it. Sentences are the real
data's (``data/``), both tasks' in turn.

    .venv/bin/python benchmarks/serve_load.py [--model FOLDER|models:/...] [--backend NAME] [--work DIR]
        [--max-requests N] [--max-seconds S] [--rate R] [--offline-seconds S] [--out reports/bench_serve_load.json]

Without ``--model`` it serves the untrained encoder and heads the tests use (saved once under ``--work``):
speed does not depend on the weights. ``--max-requests`` / ``--max-seconds`` cap every scenario (a quick run).
Writes the JSON, a Markdown table beside it (``.md``) and a plot of the latency percentiles (``.png``).
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mtst.serve.protocol import BATCH_ROWS, LABEL, PROBABILITIES

NAME = "serve_load"
ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.70  # issue 32: 16 single-sentence clients serve >= 70% of offline sentences/s at batch 32
TARGET_P99_MS = 250.0
TARGET_SOAK_REQUESTS = 10_000
TARGET_MALFORMED_MS = 100.0
OFFLINE_BATCH = 32
TARGET_SCENARIO = "16 clients × 1"
SOAK_SCENARIO = "soak: 16 clients × 1"


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    """Closed loop: concurrent clients; open loop: the most requests in flight (connections)."""
    batch: int
    """Sentences a request."""
    requests: int
    seconds: float
    """Wall-time bound: the scenario stops when either bound is reached."""
    rate: float | None = None
    """Requests per second of an open-loop scenario (None: closed loop)."""
    probe: bool = False
    """Send malformed requests alongside."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("1 client × 1", 1, 1, 400, 60),
    Scenario("4 clients × 1", 4, 1, 1_000, 60),
    Scenario(TARGET_SCENARIO, 16, 1, 3_000, 90),
    Scenario("4 clients × 32", 4, 32, 150, 90),
    Scenario("open loop × 1", 32, 1, 3_000, 60, rate=0.0),  # rate set from the 16-client result or --rate
    Scenario(SOAK_SCENARIO, 16, 1, TARGET_SOAK_REQUESTS, 400, probe=True),
)


# ---- the server ---------------------------------------------------------------------------------------------
def loopback(host: str) -> str:
    """``host`` if every address it names is loopback; anything else is refused (this is a load test)."""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"error: --host {host} is not a loopback address ({', '.join(sorted(addresses))}): "
                         f"the load test only runs against a server it started on this machine")
    return host


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A ``mtst serve`` process this benchmark started (its own process group), and where it answers."""
    process: subprocess.Popen[bytes]
    host: str
    port: int
    metrics_port: int
    model_name: str
    log: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the server's process group (its inference workers too), SIGKILL what is left after ``grace``."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


@dataclass(frozen=True)
class Settings:
    """What the server is started with and held to, from params.yaml (``mtst.serve.settings`` reads it the same
    way), recorded in the report with what was measured."""
    params: Path
    model_name: str
    backend: str
    threads: int | None
    max_batch_size: int
    max_batch_time_ms: float
    max_rows: int
    max_chars: int
    max_body_bytes: int

    @classmethod
    def read(cls, params: Path, backend: str | None) -> Settings:
        from mtst.config import load_params
        from mtst.serve import settings

        loaded = load_params(params)
        serve = loaded.serve
        return cls(params, settings.model_name(loaded), backend or serve.backend, serve.threads, serve.max_batch_size,
                   serve.max_batch_time_ms, **vars(settings.limits(loaded)))

    def record(self) -> dict[str, Any]:
        return {key: str(value) if isinstance(value, Path) else value for key, value in vars(self).items()}


def serve_command(model: str, settings: Settings, host: str, ports: dict[str, int], folder: Path) -> list[str]:
    """``mtst serve`` (its contract: ``mtst.serve``'s docstring) on ``host`` and free ports, with its MLServer
    folder in this run's work folder (the user's ``artifacts/serving`` stays as it is)."""
    return [sys.executable, "-m", "mtst.cli", "serve", "--model", model, "--backend", settings.backend,
            "--params", str(settings.params), "--host", host, *(f"--{k}={v}" for k, v in ports.items()),
            "--out", str(folder)]


def wait_ready(server: Server, timeout: float) -> None:
    """Poll ``/v2/health/ready`` until it answers 200; the server dying or ``timeout`` is an error with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"error: the server exited ({server.process.returncode}) before it was ready:\n"
                             f"{server.log_tail()}")
        try:
            status, _ = request(server.host, server.port, "GET", "/v2/health/ready", timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"error: the server was not ready within {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def running_server(model: str, settings: Settings, host: str, work: Path, timeout: float) -> Iterator[Server]:
    """Start ``mtst serve`` on ``host`` (MLServer's folder and log under ``work``), wait until it is ready, yield
    it, and always stop it."""
    ports = {"port": free_port(host), "grpc-port": free_port(host), "metrics-port": free_port(host)}
    log = work / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(serve_command(model, settings, host, ports, work / "serving"), stdout=sink,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(process, host, ports["port"], ports["metrics-port"], settings.model_name, log)
    try:
        wait_ready(server, timeout)
        status, body = request(host, server.port, "GET", f"/v2/models/{server.model_name}", timeout=10)
        server.metadata = json.loads(body) if status == 200 else {"status": status}
        yield server
    finally:
        server.stop()


# ---- the client ---------------------------------------------------------------------------------------------
HEADERS = {"Content-Type": "application/json"}
IDLE_RECONNECT = 2.0  # a keep-alive connection idle this long is reopened (servers close idle ones after ~5 s)


def request(host: str, port: int, method: str, path: str, body: bytes | None = None,
            timeout: float = 30) -> tuple[int, bytes]:
    """One request on a connection of its own."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        return send(connection, method, path, body)
    finally:
        connection.close()


def send(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    """Send on ``connection``; a server that answers before it read the whole body (a refused oversized one)
    may close the socket while we still write: its answer is read all the same."""
    try:
        connection.request(method, path, body, HEADERS if body is not None else {})
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = connection.getresponse()
    return response.status, response.read()


def infer_body(texts: Sequence[Any]) -> bytes:
    """An Open Inference Protocol v2 request: one BYTES tensor ``text`` of shape [n]."""
    from mtst.serve.limits import INPUT

    return json.dumps({"inputs": [{"name": INPUT, "shape": [len(texts)], "datatype": "BYTES",
                                   "data": list(texts)}]}).encode()


def answer_problem(body: bytes, rows: int) -> str | None:
    """Why a 200 answer is not an answer to ``rows`` sentences (None: it is): each task's label and probabilities."""
    from mtst.tasks import TASK_NAMES

    try:
        outputs = {o["name"]: o for o in json.loads(body)["outputs"]}
    except (ValueError, KeyError, TypeError) as exc:
        return f"not a v2 response: {exc!r}"
    for name in (f"{task}{suffix}" for task in TASK_NAMES for suffix in (LABEL, PROBABILITIES)):
        if name not in outputs:
            return f"no output {name!r} (got {sorted(outputs)})"
        if outputs[name]["shape"][0] != rows:
            return f"output {name!r} has shape {outputs[name]['shape']}, not [{rows}, ...]"
    return None


@dataclass
class Tally:
    """What one scenario's requests gave: latencies of the answered ones, errors with a few examples."""
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors += 1
            if len(self.examples) < 5:
                self.examples.append(what[:300])


class Connection:
    """One client's keep-alive connection: reopened after an error, or when idle long enough that the server may
    have closed it (a request on a connection the server just closed would fail for no fault of the server)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=timeout)
        self.last = time.monotonic()

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if time.monotonic() - self.last > IDLE_RECONNECT:
            self.connection.close()
        try:
            return send(self.connection, "POST", path, body)
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        finally:
            self.last = time.monotonic()

    def close(self) -> None:
        self.connection.close()


def _one(connection: Connection, path: str, body: bytes, rows: int, tally: Tally, since: float) -> None:
    """Send one request and count it: latency from ``since`` (the send, or when an open-loop request was due)."""
    try:
        status, answer = connection.post(path, body)
    except (OSError, http.client.HTTPException) as exc:
        tally.error(f"{type(exc).__name__}: {exc}")
        return
    problem = f"HTTP {status}: {answer[:200]!r}" if status != 200 else answer_problem(answer, rows)
    if problem:
        tally.error(problem)
    else:
        tally.ok(time.perf_counter() - since)


def run_scenario(server: Server, scenario: Scenario, bodies: Sequence[bytes], stop: threading.Event,
                 progress: Callable[[int], None]) -> tuple[Tally, float]:
    """Run ``scenario`` until its request count or wall time is reached; return the tally and the wall time."""
    path = f"/v2/models/{server.model_name}/infer"
    tally, lock = Tally(), threading.Lock()
    issued = 0
    start = time.perf_counter()
    deadline = start + scenario.seconds

    def next_request() -> int | None:
        nonlocal issued
        with lock:
            if issued >= scenario.requests or time.perf_counter() >= deadline or stop.is_set():
                return None
            issued += 1
            return issued - 1

    def client() -> None:
        connection = Connection(server.host, server.port, timeout=max(scenario.seconds, 30))
        try:
            while (k := next_request()) is not None:
                due = start + k / scenario.rate if scenario.rate else time.perf_counter()
                if scenario.rate and (wait := due - time.perf_counter()) > 0:
                    if stop.wait(wait):
                        return
                _one(connection, path, bodies[k % len(bodies)], scenario.batch, tally, due)
                progress(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(scenario.clients)]
    for thread in threads:
        thread.start()
    join(threads)
    return tally, time.perf_counter() - start


def join(threads: Sequence[threading.Thread]) -> None:
    """Join in short waits, so Ctrl-C reaches the main thread (which then sets the stop event)."""
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)


# ---- malformed requests -------------------------------------------------------------------------------------
def malformed_requests(settings: Settings) -> dict[str, bytes]:
    """One request body per rule the server enforces, each breaking that rule alone: all must be refused (4xx).
    The oversized body is a valid one-sentence request padded with JSON whitespace."""
    padded = infer_body(["a short sentence."])
    return {
        "rows over the cap": infer_body(["a short sentence."] * (settings.max_rows + 1)),
        "text over the characters cap": infer_body(["x" * (settings.max_chars + 1)]),
        "a number": infer_body([42]),
        "a null": infer_body([None]),
        "an empty text": infer_body([""]),
        "body over the size cap": padded[:-1] + b" " * (settings.max_body_bytes - len(padded) + 1) + b"}",
    }


@dataclass
class Probe:
    """Malformed requests sent every ``interval`` seconds while a scenario runs, each on a fresh connection."""
    server: Server
    bodies: dict[str, bytes]
    interval: float = 0.25
    answers: dict[str, list[tuple[int | None, float, str]]] = field(default_factory=dict)

    def run(self, until: threading.Event) -> None:
        """Send the kinds in turn until ``until`` is set, and at least one of each (a short scenario too)."""
        path = f"/v2/models/{self.server.model_name}/infer"
        kinds = list(self.bodies)
        k = 0
        while not (until.wait(self.interval) and k >= len(kinds)):
            kind = kinds[k % len(kinds)]
            k += 1
            start = time.perf_counter()
            try:
                status, answer = request(self.server.host, self.server.port, "POST", path, self.bodies[kind], 10)
                said = answer[:300].decode(errors="replace")
            except (OSError, http.client.HTTPException) as exc:
                status, said = None, f"{type(exc).__name__}: {exc}"
            self.answers.setdefault(kind, []).append((status, time.perf_counter() - start, said))

    def latencies_ms(self) -> list[float]:
        return [seconds * 1000 for answers in self.answers.values() for _, seconds, _ in answers]

    def summary(self) -> dict[str, Any]:
        """Per kind: how many were sent, answered 4xx, the statuses, the slowest and median answer, one answer."""
        rows = {}
        for kind, answers in self.answers.items():
            ms = [seconds * 1000 for _, seconds, _ in answers]
            refused = sum(status is not None and 400 <= status < 500 for status, _, _ in answers)
            rows[kind] = {"sent": len(answers), "answered_4xx": refused,
                          "statuses": sorted({str(s) for s, _, _ in answers}), "max_ms": max(ms),
                          "p50_ms": percentiles(ms, [50])[0], "example": answers[0][2]}
        return rows


# ---- measuring ----------------------------------------------------------------------------------------------
def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float | None]:
    if not values:
        return [None for _ in qs]
    import numpy as np

    return [float(v) for v in np.percentile(np.asarray(values), qs)]




def batch_rows(server: Server) -> tuple[float, float]:
    """The server's running totals of texts and of model calls (its Prometheus histogram :data:`BATCH_ROWS`)."""
    status, body = request(server.host, server.metrics_port, "GET", "/metrics", timeout=10)
    totals = {"_sum": 0.0, "_count": 0.0}
    for line in body.decode().splitlines() if status == 200 else ():
        name, _, value = line.partition(" ")
        for suffix in totals:
            if name.split("{")[0] == BATCH_ROWS + suffix:
                totals[suffix] += float(value.split()[0])
    return totals["_sum"], totals["_count"]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its descendants (the server's inference workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


def measure(server: Server, scenario: Scenario, bodies: Sequence[bytes], stop: threading.Event,
            progress_bar: bool, settings: Settings) -> dict[str, Any]:
    """Run one scenario (and the prober when it asks) and summarise it, the client's and server's CPU included."""
    from tqdm import tqdm

    probe = Probe(server, malformed_requests(settings)) if scenario.probe else None
    probing = threading.Event()
    prober = threading.Thread(target=probe.run, args=(probing,), daemon=True) if probe else None
    client_cpu, server_cpu = time.process_time(), cpu_seconds(server.process.pid)
    texts, calls = batch_rows(server)
    with tqdm(total=scenario.requests, desc=scenario.name, unit="req", disable=not progress_bar,
              leave=False) as bar:
        if prober:
            prober.start()
        try:
            tally, wall = run_scenario(server, scenario, bodies, stop, bar.update)
        finally:
            probing.set()
            if prober:
                join([prober])
    client_cpu, server_cpu = time.process_time() - client_cpu, cpu_seconds(server.process.pid) - server_cpu
    texts, calls = (after - before for after, before in zip(batch_rows(server), (texts, calls), strict=True))
    answered = len(tally.latencies)
    p50, p95, p99 = percentiles([s * 1000 for s in tally.latencies], [50, 95, 99])
    row = {"scenario": scenario.name, "clients": scenario.clients, "batch": scenario.batch,
           "rate": scenario.rate or None, "requests": answered + tally.errors, "errors": tally.errors,
           "seconds": wall, "requests/s": answered / wall, "sentences/s": answered * scenario.batch / wall,
           "p50 ms": p50, "p95 ms": p95, "p99 ms": p99, "texts per model call": texts / calls if calls else None,
           "client CPU ms/request": 1000 * client_cpu / max(answered + tally.errors, 1),
           "client CPU (cores)": client_cpu / wall, "server CPU (cores)": server_cpu / wall,
           "error examples": tally.examples}
    if probe:
        row["malformed"] = probe.summary()
        row["malformed p50/p95/p99 ms"] = percentiles(probe.latencies_ms(), [50, 95, 99])
    return row


def sentences(count: int) -> list[str]:
    """``count`` real sentences, both tasks' in turn (their lengths are what the server will see)."""
    from mtst.data.datasets import read_jsonl_frame
    from mtst.tasks import TASK_NAMES

    texts = [read_jsonl_frame(ROOT / "data" / f"{task}.jsonl")["text"].tolist() for task in TASK_NAMES]
    mixed = [t for pair in zip(*texts, strict=False) for t in pair]
    return mixed[:count]


def default_model(work: Path) -> Path:
    """The untrained encoder and heads the tests use, saved once under ``work``."""
    from mtst.contracts.training import MODEL_CONFIG

    folder = work / "model"
    if not (folder / MODEL_CONFIG).exists():
        from mtst.data.datasets import TASK_LABELS
        from mtst.model import MultiTaskSentenceTransformer

        print(f"saving the untrained model to {folder} ...", flush=True)
        MultiTaskSentenceTransformer({t: list(labels) for t, labels in TASK_LABELS.items()}).save(folder)
    return folder


def served_export(folder: Path, settings: Settings) -> Path:
    """The export the server ran: its model settings' ``parameters.uri`` (relative to that file's folder)."""
    from mtst.serve.settings import MODEL_SETTINGS_FILE

    model_folder = folder / settings.model_name
    uri = json.loads((model_folder / MODEL_SETTINGS_FILE).read_text())["parameters"]["uri"]
    return (model_folder / uri).resolve()


def offline(job: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: the export the server ran, loaded as its runtime loads it (``load_backend`` with the
    served backend and threads), scoring ``job``'s sentences at batch 32 for at least ``seconds``."""
    from mtst.backends import backend_named
    from mtst.export import load_backend

    texts = json.loads(Path(job["sentences"]).read_text())
    model = load_backend(job["model"], job["backend"], threads=job["threads"])
    model.predict_proba(texts[:OFFLINE_BATCH], batch_size=OFFLINE_BATCH)  # warm-up: the first call compiles
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < job["seconds"] or done < OFFLINE_BATCH * 4:
        chunk = texts[done % len(texts):][:OFFLINE_BATCH * 8]
        model.predict_proba(chunk, batch_size=OFFLINE_BATCH)
        done += len(chunk)
    precision = getattr(model, "precision", None) or backend_named(model.backend).precision  # OpenVINO's: what ran
    return {"export": job["model"], "backend": model.backend, "precision": precision,
            "threads": model.threads,
            "sentences": done, "seconds": elapsed, "sentences/s": done / elapsed}


# ---- report -------------------------------------------------------------------------------------------------
CLIENT = "threads, one keep-alive http.client connection each"
COLUMNS = ["scenario", "clients", "batch", "rate", "requests", "errors", "requests/s", "sentences/s", "p50 ms",
           "p95 ms", "p99 ms", "texts per model call", "client CPU ms/request", "client CPU (cores)",
           "server CPU (cores)"]


def targets(rows: list[dict[str, Any]], offline_rate: float) -> dict[str, Any]:
    """Issue 32's targets as measured values, targets and whether each was met (never asserted)."""
    by_name = {row["scenario"]: row for row in rows}
    result: dict[str, Any] = {}
    if (main := by_name.get(TARGET_SCENARIO)) is not None:
        ratio = main["sentences/s"] / offline_rate if offline_rate else None
        result["served_vs_offline"] = {"value": ratio, "target": f">= {TARGET_RATIO}",
                                       "met": ratio is not None and ratio >= TARGET_RATIO,
                                       "what": f"{TARGET_SCENARIO}: served sentences/s / offline batch-32 sentences/s"}
        result["p99_ms"] = {"value": main["p99 ms"], "target": f"<= {TARGET_P99_MS:.0f}",
                            "met": main["p99 ms"] is not None and main["p99 ms"] <= TARGET_P99_MS,
                            "what": f"{TARGET_SCENARIO}: p99 latency, ms"}
    if (soak := by_name.get(SOAK_SCENARIO)) is not None:
        result["soak_errors"] = {"value": soak["errors"], "requests": soak["requests"], "target": "0 in 10,000",
                                 "met": soak["errors"] == 0 and soak["requests"] >= TARGET_SOAK_REQUESTS,
                                 "what": f"{SOAK_SCENARIO}: errors (requests sent: {soak['requests']:,})"}
        malformed = soak.get("malformed", {})
        slowest = max((m["max_ms"] for m in malformed.values()), default=None)
        refused = all(m["answered_4xx"] == m["sent"] for m in malformed.values()) and bool(malformed)
        result["malformed_ms"] = {"value": slowest, "target": f"4xx, <= {TARGET_MALFORMED_MS:.0f}",
                                  "met": refused and slowest is not None and slowest <= TARGET_MALFORMED_MS,
                                  "what": "malformed requests during the soak: slowest answer, ms (all 4xx: "
                                          f"{'yes' if refused else 'no'})"}
    return result


def markdown(result: dict[str, Any], plot: Path | None) -> str:
    from results import markdown_table

    offline_row = result["offline"]
    settings = result["settings"]
    parts = [f"Model: `{result['model']}`; served with backend {settings['backend']} (what ran, as the server "
             f"reports it: {result['served_backend']}), adaptive batching up to "
             f"{settings['max_batch_size']} requests / {settings['max_batch_time_ms']} ms. Offline: "
             f"{offline_row['backend']} ({offline_row['precision']}, {offline_row['threads']} threads) at "
             f"batch {OFFLINE_BATCH}, {offline_row['sentences/s']:.1f} sentences/s ({offline_row['sentences']:,} "
             f"sentences in {offline_row['seconds']:.1f} s). Client: {result['client']}.\n",
             markdown_table(result["scenarios"], COLUMNS),
             "**Targets** (issue 32):\n",
             markdown_table([{"target": t["what"], "measured": t["value"], "wanted": t["target"], "met": t["met"]}
                             for t in result["targets"].values()])]
    malformed = [{"malformed request": kind, **{k: v for k, v in m.items() if k != "example"}}
                 for row in result["scenarios"] for kind, m in row.get("malformed", {}).items()]
    if malformed:
        parts += ["**Malformed requests** during the soak (each on a fresh connection):\n", markdown_table(malformed)]
    if plot is not None:
        parts.append(f"![latency percentiles per scenario]({plot.name})\n")
    return "\n".join(parts)


NOTES = """\
Closed loop: each client sends its next request when its answer arrives; open loop: requests are due at a fixed
rate and latency counts from when each was due. Latency is the client's wall time per request (loopback); an error
is anything but a 200 carrying every task's label and probabilities for every sentence sent. `client CPU` is this
benchmark's own CPU time (its threads, JSON decoding) against the server's (`server CPU`: the server process and
its workers), so whether the client limited the run can be read off the table. `texts per model call`: how many
texts adaptive batching merged into one model call, on average (the server's `mtst_batch_rows` histogram). The
offline figure is the same export and backend scored in a fresh process after the server stopped, so the two never
competed for the cores. Malformed requests (during the soak) are not counted in its requests or errors.
"""


def plot_latencies(rows: list[dict[str, Any]], path: Path) -> Path:
    """Bars of p50 / p95 / p99 per scenario and of the malformed requests (log scale) with the targets; written
    atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtst.io import atomic_path

    groups = {row["scenario"]: [row["p50 ms"], row["p95 ms"], row["p99 ms"]] for row in rows}
    groups.update({f"malformed ({row['scenario'].split(':')[0]})": row["malformed p50/p95/p99 ms"]
                   for row in rows if "malformed p50/p95/p99 ms" in row})
    figure, axes = plt.subplots(figsize=(10, 4.8))
    width = 0.27
    for i, label in enumerate(("p50", "p95", "p99")):
        axes.bar([x + (i - 1) * width for x in range(len(groups))], [values[i] or 0 for values in groups.values()],
                 width, label=label)
    axes.axhline(TARGET_P99_MS, color="black", linestyle="--", linewidth=1,
                 label=f"p99 target, {TARGET_SCENARIO} ({TARGET_P99_MS:.0f} ms)")
    axes.axhline(TARGET_MALFORMED_MS, color="grey", linestyle=":", linewidth=1,
                 label=f"malformed target ({TARGET_MALFORMED_MS:.0f} ms)")
    axes.set_xticks(range(len(groups)), list(groups), rotation=20, ha="right")
    axes.set_yscale("log")
    axes.set_ylabel("latency, ms")
    axes.set_title("Served latency per scenario")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return path


# ---- main ---------------------------------------------------------------------------------------------------
def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The scenario set, capped by ``--max-requests`` / ``--max-seconds``."""
    chosen = []
    for scenario in SCENARIOS:
        if args.max_requests:
            scenario = replace(scenario, requests=min(scenario.requests, args.max_requests))
        if args.max_seconds:
            scenario = replace(scenario, seconds=min(scenario.seconds, args.max_seconds))
        chosen.append(scenario)
    return chosen


def run_offline(job: dict[str, Any]) -> dict[str, Any]:
    """:func:`offline` in a fresh process, started after the server stopped: the two never share the cores."""
    child = subprocess.run([sys.executable, __file__, "--offline", json.dumps(job)], capture_output=True, text=True,
                           check=False)
    if child.returncode:
        raise SystemExit(f"error: the offline measurement failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def run_all(server: Server, chosen: Sequence[Scenario], bodies: dict[int, list[bytes]], settings: Settings,
            stop: threading.Event, args: argparse.Namespace) -> list[dict[str, Any]]:
    """A warm-up (the first calls compile), then each scenario in turn; the open loop's rate is set from the
    16-client result unless ``--rate`` gives it."""
    measure(server, Scenario("warm-up", 2, 1, 20, 60), bodies[1], stop, False, settings)
    rows: list[dict[str, Any]] = []
    for scenario in chosen:
        if scenario.rate is not None:
            achieved = next(r["requests/s"] for r in rows if r["scenario"] == TARGET_SCENARIO)
            scenario = replace(scenario, rate=args.rate or max(round(achieved / 2, 1), 1.0))
        print(f"{scenario.name}: up to {scenario.requests:,} requests in {scenario.seconds:.0f} s ...", flush=True)
        row = measure(server, scenario, bodies[scenario.batch], stop, not args.no_progress, settings)
        rows.append(row)
        print(f"    {row['requests/s']:.1f} requests/s, {row['sentences/s']:.1f} sentences/s, p50/p99 "
              f"{row['p50 ms'] or 0:.0f}/{row['p99 ms'] or 0:.0f} ms, {row['errors']} errors", flush=True)
    return rows


def interrupted(signum: int, frame: Any) -> None:
    """SIGINT and SIGTERM as Ctrl-C: the scenario stops and the server is stopped on the way out."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="what to serve: models:/<name>@<alias>, or a saved model, training or export "
                                        "folder (default: the untrained model the tests use, saved under --work)")
    parser.add_argument("--backend", help="the export backend to serve and measure (default: params' serve.backend)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="the serve section's settings")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on (nothing else is allowed)")
    parser.add_argument("--work", type=Path, default=Path(".cache/bench-serve-load"))
    parser.add_argument("--max-requests", type=int, help="cap every scenario's request count (a quick run)")
    parser.add_argument("--max-seconds", type=float, help="cap every scenario's wall time")
    parser.add_argument("--rate", type=float, help="open-loop requests/s (default: half of what 16 clients achieved)")
    parser.add_argument("--offline-seconds", type=float, default=30.0, help="how long the offline run scores")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for the server")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default reports/bench_serve_load.json)")
    parser.add_argument("--offline", help=argparse.SUPPRESS)  # the child: JSON of the offline job
    args = parser.parse_args()
    if args.offline:
        print(json.dumps(offline(json.loads(args.offline))))
        return
    host = loopback(args.host)
    from results import default_out, write_results

    settings = Settings.read(args.params, args.backend)
    out = args.out or default_out(NAME)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    model = (args.model if args.model.startswith("models:/") else str(Path(args.model).resolve())) if args.model \
        else str(default_model(work))
    pool = sentences(4_000)
    (work / "sentences.json").write_text(json.dumps(pool))
    bodies = {batch: [infer_body(pool[i:i + batch]) for i in range(0, len(pool) - batch + 1, batch)]
              for batch in {s.batch for s in SCENARIOS}}
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell's background job starts with it ignored
        signal.signal(signum, interrupted)
    load_before = os.getloadavg()  # a shared machine: what else was running shows here
    try:
        with running_server(model, settings, host, work, args.ready_timeout) as server:
            try:
                rows = run_all(server, scenarios(args), bodies, settings, stop, args)
            finally:
                stop.set()  # the clients stop before the server does
        print(f"offline: {settings.backend} at batch {OFFLINE_BATCH}, in a fresh process ...", flush=True)
        offline_row = run_offline({"model": str(served_export(work / "serving", settings)),
                                   "backend": settings.backend, "sentences": str(work / "sentences.json"),
                                   "threads": settings.threads or len(os.sched_getaffinity(0)),  # runtime's _cores()
                                   "seconds": args.offline_seconds})
    except KeyboardInterrupt:
        raise SystemExit("interrupted: the server was stopped, nothing written") from None
    result = {"model": model, "settings": settings.record(), "metadata": server.metadata,
              "served_backend": server.metadata.get("parameters", {}).get("backend"), "offline": offline_row,
              "scenarios": rows,
              "targets": targets(rows, offline_row["sentences/s"]), "client": CLIENT,
              "load_average": {"before": load_before, "after": os.getloadavg()}}
    plot = plot_latencies(rows, out.with_suffix(".png"))
    json_path, md_path = write_results(NAME, result, markdown(result, plot), title="Serving under load",
                                       notes=NOTES, out=out)
    print(markdown(result, None))
    print(f"(written: {json_path}, {md_path}, {plot})")


if __name__ == "__main__":
    main()
