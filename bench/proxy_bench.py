"""Proxy overhead benchmark: direct vs stock LiteLLM vs the patched proxy, one workload, one go.

The same streamed Claude Code-like workload (a ~40 KB request: long system prompt, tool
list, a few turns; a streamed reply of a few hundred tokens) goes to one fake Anthropic
upstream with a fixed think time through these paths:

* ``direct``: straight to the fake upstream (the physical floor);
* ``stock``: stock LiteLLM at the pinned version (an unpatched copy installed once under
  ``bench/.data/``, put first on PYTHONPATH) with its stock ``arize_phoenix`` callback,
  LiteLLM's own defaults (one worker, access log, default span batching), same config;
* ``patched-untuned``: the patched proxy run like stock (one worker, LiteLLM defaults):
  the "before tuning" figures;
* ``patched``: the proxy exactly as ``claude-session up`` ships it (stack.start_proxy),
  with session headers; ``patched-untagged`` is the same proxy without session headers.

All export spans to one real Phoenix, each to its own project. For concurrency 1, 8 and 32
it reports latency and time to first streamed byte (p50/p95/p99, client side), the latency
added over direct, requests per second, proxy CPU seconds per 1,000 requests and peak RSS
of the proxy's process tree, spans per request as they reach Phoenix, and the ratios
patched/stock and tagged/untagged. The table goes to stdout, the figures to JSON
(``bench/results/proxy-<timestamp>.json`` unless ``--output``). Nothing is asserted.

    .venv/bin/python bench/proxy_bench.py            # full run, ~8 min on 2 cores
    .venv/bin/python bench/proxy_bench.py --smoke    # concurrency 1 and 4, 30 requests: < 90 s

The load generator runs in its own process (a small asyncio HTTP/1.1 client, so that its
CPU cost is low and never counted as the proxy's). Everything is started on free ports
bound to 127.0.0.1 with a temporary state directory and stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from claude_session import fields, procs, proxy_config, stack  # noqa: E402
from claude_session.phoenix_api import PhoenixClient  # noqa: E402
from claude_session.state import StatePaths, master_key  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
STOCK_CACHE = REPO / "bench" / ".data"
MODEL = "claude-sonnet-4-5"
THINK_MS = 50.0
REPLY_WORDS = 300  # ~400 tokens streamed in ~75 text deltas
CHUNK_WORDS = 4
FULL_LEVELS = {1: 300, 8: 1000, 32: 1500}  # concurrency -> measured requests
SMOKE_LEVELS = {1: 30, 4: 30}
WARMUP_REQUESTS = 60
PATHS_FULL = ("direct", "stock", "patched-untuned", "patched")
PATHS_SMOKE = ("direct", "stock", "patched")
PROXY_START_TIMEOUT = 180.0


# --------------------------------------------------------------------------- workload


def claude_code_body(stream: bool = True) -> dict[str, Any]:
    """A request shaped like Claude Code's: ~40 KB of system prompt, tools and history."""
    guidance = (
        "You are an interactive CLI tool that helps users with software engineering tasks. "
        "Use the instructions below and the tools available to you to assist the user. "
        "Be concise, direct and to the point; explain non-trivial commands before running them. "
    )
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": guidance * 60, "cache_control": {"type": "ephemeral"}},
    ]
    tools = []
    for i in range(16):
        tools.append(
            {
                "name": f"Tool{i:02d}",
                "description": (
                    f"Tool number {i}. Reads, searches or edits files in the working tree; "
                    "returns the result as text. Use it when the task needs it, never speculatively. "
                )
                * 6,
                "input_schema": {
                    "type": "object",
                    "properties": {
                        name: {"type": "string", "description": f"The {name} to operate on, absolute."}
                        for name in ("path", "pattern", "old_string", "new_string", "glob", "command")
                    },
                    "required": ["path"],
                    "additionalProperties": False,
                    "$schema": "http://json-schema.org/draft-07/schema#",
                },
            }
        )
    history = []
    for turn in range(4):
        history.append({"role": "user", "content": [{"type": "text", "text": f"Step {turn}: " + "x " * 300}]})
        history.append({"role": "assistant", "content": [{"type": "text", "text": "Done. " * 60}]})
    history.append({"role": "user", "content": [{"type": "text", "text": "Summarise the change."}]})
    return {
        "model": MODEL,
        "max_tokens": 32000,
        "stream": stream,
        "temperature": 1,
        "system": system,
        "tools": tools,
        "messages": history,
        "metadata": {"user_id": json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": "b"})},
    }


@dataclass(frozen=True)
class Workload:
    """What the client sends: to which port and path, with which headers."""

    port: int
    path: str
    headers: dict[str, str]
    tagged: bool  # per-worker session headers (x-session-tracking-*)
    run_id: str


def request_bytes(workload: Workload, body: bytes, worker: int) -> bytes:
    headers = {
        "host": f"127.0.0.1:{workload.port}",
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "user-agent": "claude-cli/2.1.331 (external, cli)",
        "x-app": "cli",
        "x-api-key": "sk-ant-bench-client-key",
        fields.CLAUDE_CODE_HEADER: f"9df06ec6-91f5-4cef-8196-{worker:012d}",
        **workload.headers,
    }
    if workload.tagged:
        headers.update(
            fields.to_headers(
                {
                    "session_id": f"bench-{workload.run_id}-w{worker}",
                    "session_type": "benchmark",
                    "prompt_version": "v1",
                    "session_name": f"proxy bench {worker}",
                }
            )
        )
    head = f"POST {workload.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"content-length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


# --------------------------------------------------------------------------- load generator (own process)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[int, float, float, bool, bool]:
    """Send one request, read the whole response: (status, ttfb s, latency s, complete, keep-alive)."""
    start = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    keep = b"connection: close" not in lowered
    first: float | None = None
    body = bytearray()
    if b"transfer-encoding: chunked" in lowered:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunk = await reader.readexactly(size + 2)
            if first is None:
                first = time.perf_counter()
            body += chunk[:-2]
    else:
        match = re.search(rb"content-length:\s*(\d+)", lowered)
        length = int(match.group(1)) if match else 0
        body += await reader.readexactly(length)
        first = time.perf_counter()
    end = time.perf_counter()
    complete = status == 200 and b"message_stop" in body
    return status, (first or end) - start, end - start, complete, keep


async def _run_client(spec: dict[str, Any]) -> dict[str, Any]:
    workload = Workload(**spec["workload"])
    body = spec["body"].encode()
    total, concurrency = spec["total"], spec["concurrency"]
    latencies: list[float] = []
    ttfbs: list[float] = []
    statuses: dict[str, int] = {}
    failures: list[str] = []
    issued = 0

    async def worker(index: int) -> None:
        nonlocal issued
        payload = request_bytes(workload, body, index)
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while issued < total:
            issued += 1
            try:
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", workload.port)
                status, ttfb, latency, complete, keep = await asyncio.wait_for(
                    _exchange(*conn, payload), timeout=120
                )
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if complete:
                latencies.append(latency * 1000)
                ttfbs.append(ttfb * 1000)
            else:
                failures.append(f"status {status} or incomplete stream")
            if not keep:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    cpu_start = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "latency_ms": latencies,
        "ttfb_ms": ttfbs,
        "statuses": statuses,
        "errors": len(failures),
        "first_errors": failures[:3],
        "wall_s": wall,
        "client_cpu_s": time.process_time() - cpu_start,
    }


def client_main() -> int:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with LiteLLM's proxy extra
        runner = asyncio.run
    print(json.dumps(runner(_run_client(spec))))
    return 0


def run_client(workload: Workload, body: bytes, concurrency: int, total: int) -> dict[str, Any]:
    spec = {
        "workload": workload.__dict__,
        "body": body.decode(),
        "concurrency": concurrency,
        "total": total,
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--client"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --------------------------------------------------------------------------- process measurement


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu_seconds(pid: int) -> float:
    import psutil

    total = 0.0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def tree_rss_mb(pid: int) -> float:
    import psutil

    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


class RssSampler:
    """Peak RSS of a process tree, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.pid is not None:
                self.peak = max(self.peak, tree_rss_mb(self.pid))
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


# --------------------------------------------------------------------------- the stack under test


@dataclass
class Bench:
    root: Path
    upstream_port: int
    phoenix: stack.StackSettings
    started: list[Path] = field(default_factory=list)  # pid files to stop at the end

    @property
    def phoenix_client(self) -> PhoenixClient:
        return PhoenixClient(self.phoenix.phoenix_base)


def pinned_litellm() -> str:
    for line in (REPO / "requirements" / "pins.txt").read_text().splitlines():
        if line.startswith("litellm=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit("requirements/pins.txt pins no litellm version")


def stock_site(version: str) -> Path:
    """An unpatched copy of the pinned LiteLLM (no dependencies: those come from the venv)."""
    target = STOCK_CACHE / f"litellm-stock-{version}"
    marker = target / f"litellm-{version}.dist-info"
    if not marker.exists():
        print(f"installing stock litellm=={version} into {target} (once)...", file=sys.stderr, flush=True)
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(target),
                f"litellm=={version}",
            ],
            check=True,
        )
    # The stock copy must shadow the venv's patched one, and carry none of the overlay.
    probe = (
        "import importlib.util, litellm; print(litellm.__file__); "
        "print(importlib.util.find_spec('litellm.proxy.session_metadata_middleware') is None)"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(target), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = answer.stdout.split()
    if (
        answer.returncode != 0
        or len(lines) < 2
        or not lines[-2].startswith(str(target))
        or lines[-1] != "True"
    ):
        raise SystemExit(f"{target} is not a stock LiteLLM: {answer.stdout[-300:]} {answer.stderr[-300:]}")
    return target


def start_base(root: Path, think_ms: float, reply_words: int, started: list[Path]) -> Bench:
    """The fake upstream and Phoenix; `started` collects pid files to stop (even on failure)."""
    state = StatePaths(root / "base")
    state.ensure()
    upstream_port = procs.free_port()
    argv = stack.fake_upstream_argv(
        upstream_port,
        "--think-ms",
        str(think_ms),
        "--reply-words",
        str(reply_words),
        "--chunk-words",
        str(CHUNK_WORDS),
    )
    bench = Bench(
        root,
        upstream_port,
        stack.StackSettings(
            phoenix_port=procs.free_port(), phoenix_grpc_port=procs.free_port(), offline=True
        ),
        started,
    )
    pid = procs.start(
        "fake upstream", argv, os.environ, state.pid_file("upstream"), state.log_file("upstream")
    )
    bench.started.append(state.pid_file("upstream"))
    procs.wait_healthy(
        "the fake upstream", f"http://127.0.0.1:{upstream_port}/", pid, state.log_file("upstream"), 30
    )
    bench.started.append(state.pid_file("phoenix"))
    stack.start_phoenix(bench.phoenix, state)
    return bench


@dataclass
class Proxy:
    name: str
    port: int
    pid: int
    key: str
    project: str
    pid_file: Path
    log_file: Path
    workers: int


def _settings(bench: Bench, project: str, workers: int) -> stack.StackSettings:
    return stack.StackSettings(
        proxy_port=procs.free_port(),
        upstream_port=bench.upstream_port,
        offline=True,
        phoenix_url=bench.phoenix.phoenix_base,
        project=project,
        workers=workers,
    )


def start_shipped_proxy(bench: Bench, name: str, workers: int | None = None) -> Proxy:
    """The patched proxy exactly as `claude-session up` starts it (its env, argv and defaults)."""
    state = StatePaths(bench.root / name)
    state.ensure()
    settings = _settings(bench, f"bench-{name}", workers or stack.StackSettings().workers)
    bench.started.append(state.pid_file("proxy"))
    stack.start_proxy(settings, state, session=None, inherit_session_env=False)
    pid = procs.read_pid(state.pid_file("proxy"))
    assert pid is not None
    return Proxy(
        name,
        settings.proxy_port,
        pid,
        master_key(state) or "",
        settings.project,
        state.pid_file("proxy"),
        state.log_file("proxy"),
        settings.workers,
    )


def start_plain_proxy(
    bench: Bench,
    name: str,
    pythonpath: Path | None,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
) -> Proxy:
    """LiteLLM run the way its own docs start it: one worker, LiteLLM's defaults, same config.

    With `pythonpath` (the stock copy) first on the path, this is stock LiteLLM; without,
    it is the patched code with none of the distribution's run-time tuning. `extra_env`
    and `workers` add single tuning knobs back, to measure them one at a time.
    """
    state = StatePaths(bench.root / name)
    state.ensure()
    settings = _settings(bench, f"bench-{name}", workers)
    env = stack.proxy_env(settings, state, session=None, inherit_session_env=False)
    for key in getattr(stack, "PROXY_TUNING_ENV", {}):
        if os.environ.get(key) is None:
            env.pop(key, None)  # LiteLLM's and OpenTelemetry's own defaults
    env.update(extra_env or {})
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    state.proxy_config.write_text(proxy_config.render(settings.upstream_url, True))
    argv = [
        str(Path(sys.executable).parent / "litellm"),
        "--config",
        str(state.proxy_config),
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.proxy_port),
        "--num_workers",
        str(workers),
    ]
    bench.started.append(state.pid_file("proxy"))
    pid = procs.start(f"litellm proxy ({name})", argv, env, state.pid_file("proxy"), state.log_file("proxy"))
    procs.wait_healthy(
        f"the {name} proxy",
        settings.proxy_url + "/health/liveliness",
        pid,
        state.log_file("proxy"),
        PROXY_START_TIMEOUT,
    )
    return Proxy(
        name,
        settings.proxy_port,
        pid,
        env["LITELLM_MASTER_KEY"],
        settings.project,
        state.pid_file("proxy"),
        state.log_file("proxy"),
        workers,
    )


# --------------------------------------------------------------------------- spans in Phoenix


def span_counts(bench: Bench, project: str) -> dict[str, int] | None:
    client = bench.phoenix_client
    project_id = client.project_id(project)
    if project_id is None:
        return {"total": 0}
    query = (
        "query($id: ID!, $raw: String!) { node(id: $id) { ... on Project {"
        " total: recordCount raw: recordCount(filterCondition: $raw) } } }"
    )
    node = client.graphql(query, {"id": project_id, "raw": "name == 'raw_gen_ai_request'"})["node"]
    return {"total": int(node["total"]), "raw_gen_ai_request": int(node["raw"])}


def phoenix_cpu_busy(bench: Bench) -> bool:
    pid = procs.read_pid(bench.root / "base" / "run" / "phoenix.pid")
    if pid is None:
        return False
    before = tree_cpu_seconds(pid)
    time.sleep(1.0)
    return tree_cpu_seconds(pid) - before > 0.15


def wait_spans_settled(bench: Bench, project: str, limit: float) -> dict[str, int] | None:
    """Wait until Phoenix has ingested what the proxy sent (count stable, Phoenix idle)."""
    deadline = time.monotonic() + limit
    last: dict[str, int] | None = None
    stable = 0
    while time.monotonic() < deadline:
        counts = span_counts(bench, project)
        busy = phoenix_cpu_busy(bench)
        stable = stable + 1 if counts == last and not busy else 0
        last = counts
        if stable >= 3:
            return counts
        time.sleep(1.0)
    return last


def session_attributes_seen(bench: Bench, project: str) -> dict[str, Any]:
    """A sample of LLM spans: whether they carry session.type (stock never sets it)."""
    rows = bench.phoenix_client.query_spans(
        project, {"name": "name", "type": "session.type"}, condition="name == 'litellm_request'", limit=50
    )
    return {"sampled": len(rows), "with_session_type": sum(1 for row in rows if row.get("type"))}


# --------------------------------------------------------------------------- measuring


def measure(
    proxy: Proxy | None,
    workloads: dict[str, Workload],
    body: bytes,
    concurrency: int,
    total: int,
    blocks: int = 1,
) -> dict[str, dict[str, Any]]:
    """Measure each workload with `total` requests; name -> figures.

    With several workloads and `blocks` > 1, each one's requests are split into blocks run
    in ABBA order (A B B A A B B A ...), so that drift on a shared machine hits all alike.
    """
    pid = proxy.pid if proxy else None
    names = list(workloads)
    order: list[str] = []
    for block in range(blocks):
        order += names if block % 2 == 0 else names[::-1]
    raw: dict[str, dict[str, Any]] = {
        name: {
            "latency_ms": [],
            "ttfb_ms": [],
            "statuses": {},
            "errors": 0,
            "first_errors": [],
            "wall_s": 0.0,
            "client_cpu_s": 0.0,
            "cpu_s": 0.0,
            "peak_rss_mb": 0.0,
        }
        for name in names
    }
    for index, name in enumerate(order):
        # Spread `total` over this workload's blocks exactly.
        nth = order[:index].count(name)
        count = total // blocks + (1 if nth < total % blocks else 0)
        cpu_before = tree_cpu_seconds(pid) if pid else 0.0
        with RssSampler(pid) as rss:
            block = run_client(workloads[name], body, concurrency, count)
        into = raw[name]
        into["cpu_s"] += tree_cpu_seconds(pid) - cpu_before if pid else 0.0
        into["peak_rss_mb"] = max(into["peak_rss_mb"], rss.peak)
        for key in ("latency_ms", "ttfb_ms", "first_errors"):
            into[key] += block[key]
        for key in ("errors", "wall_s", "client_cpu_s"):
            into[key] += block[key]
        for status, n in block["statuses"].items():
            into["statuses"][status] = into["statuses"].get(status, 0) + n
    return {name: _figures(raw[name], concurrency, total, pid is not None) for name in names}


def _figures(raw: dict[str, Any], concurrency: int, total: int, proxied: bool) -> dict[str, Any]:
    ok = len(raw["latency_ms"])
    row: dict[str, Any] = {
        "concurrency": concurrency,
        "requests": total,
        "ok": ok,
        "errors": raw["errors"],
        "first_errors": raw["first_errors"][:3],
        "statuses": raw["statuses"],
        "wall_s": round(raw["wall_s"], 3),
        "rps": round(ok / raw["wall_s"], 2) if raw["wall_s"] else None,
        "client_cpu_s": round(raw["client_cpu_s"], 2),
    }
    for label, values in (("latency", raw["latency_ms"]), ("ttfb", raw["ttfb_ms"])):
        for pct in (50, 95, 99):
            value = percentile(values, pct)
            row[f"{label}_p{pct}_ms"] = round(value, 2) if value is not None else None
        row[f"{label}_mean_ms"] = round(statistics.fmean(values), 2) if values else None
    if proxied:
        row["proxy_cpu_s_per_1k"] = round(raw["cpu_s"] / max(total, 1) * 1000, 2)
        row["peak_rss_mb"] = round(raw["peak_rss_mb"], 1)
    return row


def wait_phoenix_idle(bench: Bench, limit: float) -> None:
    """Let Phoenix finish ingesting the previous measurement's spans (it shares the CPUs)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and phoenix_cpu_busy(bench):
        pass


def workload_for(port: int, proxy: Proxy | None, tagged: bool, run_id: str) -> Workload:
    headers = {fields.PROXY_KEY_HEADER: proxy.key} if proxy else {}
    return Workload(port=port, path="/v1/messages?beta=true", headers=headers, tagged=tagged, run_id=run_id)


def run_path(
    bench: Bench, path: str, levels: dict[int, int], body: bytes, run_id: str, smoke: bool, stock: Path | None
) -> dict[str, dict[str, Any]]:
    """Measure one path; the patched path also yields its untagged twin. Returns name -> result."""
    proxy: Proxy | None = None
    started = time.monotonic()
    if path == "stock":
        assert stock is not None
        proxy = start_plain_proxy(bench, "stock", stock)
    elif path == "patched-untuned":
        proxy = start_plain_proxy(bench, "patched-untuned", None)
    elif path == "patched":
        proxy = start_shipped_proxy(bench, "patched")
    elif path != "direct":
        raise SystemExit(f"unknown path {path}")
    startup = time.monotonic() - started
    port = proxy.port if proxy else bench.upstream_port
    variants = {path: True, "patched-untagged": False} if path == "patched" else {path: True}
    results: dict[str, dict[str, Any]] = {
        name: {"levels": {}, "startup_s": round(startup, 1) if proxy else None} for name in variants
    }
    try:
        warm = workload_for(port, proxy, True, run_id)
        run_client(warm, body, 4, 8 if smoke else WARMUP_REQUESTS)
        if proxy:
            rss_after_warmup = tree_rss_mb(proxy.pid)
            for name in variants:
                results[name]["rss_after_warmup_mb"] = round(rss_after_warmup, 1)
                results[name]["workers"] = proxy.workers
        for concurrency, total in levels.items():
            wait_phoenix_idle(bench, 5 if smoke else 90)
            workloads = {name: workload_for(port, proxy, tagged, run_id) for name, tagged in variants.items()}
            # Tagged and untagged share the proxy: ABBA blocks so that drift hits both alike.
            rows = measure(proxy, workloads, body, concurrency, total, blocks=4 if len(variants) > 1 else 1)
            for name, row in rows.items():
                results[name]["levels"][str(concurrency)] = row
                print(
                    f"  {name:17s} c={concurrency:<3d} p50 {row['latency_p50_ms']} ms, "
                    f"{row['rps']} req/s, errors {row['errors']}",
                    file=sys.stderr,
                    flush=True,
                )
        if proxy:
            counts = wait_spans_settled(bench, proxy.project, 10 if smoke else 240)
            sent = WARMUP_REQUESTS if not smoke else 8
            sent += sum(levels.values()) * len(variants)
            for name in variants:
                results[name]["spans"] = counts
                results[name]["spans_per_request"] = (
                    round(counts["total"] / sent, 3) if counts and counts.get("total") else None
                )
                results[name]["session_type_on_spans"] = session_attributes_seen(bench, proxy.project)
    finally:
        if proxy:
            procs.stop(proxy.pid_file)
    return results


# --------------------------------------------------------------------------- report


METRICS = (
    ("latency_p50_ms", "p50"),
    ("latency_p95_ms", "p95"),
    ("latency_p99_ms", "p99"),
    ("ttfb_p50_ms", "ttfb50"),
    ("rps", "req/s"),
    ("proxy_cpu_s_per_1k", "cpu s/1k"),
    ("peak_rss_mb", "rss MB"),
)


def add_derived(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Added latency over direct per path and level, and the ratios the issue asks for."""
    direct = results.get("direct", {}).get("levels", {})
    for name, result in results.items():
        for level, row in result.get("levels", {}).items():
            base = direct.get(level)
            if name == "direct" or not base:
                continue
            for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "ttfb_p50_ms", "ttfb_p95_ms"):
                if row.get(key) is not None and base.get(key) is not None:
                    row["added_" + key] = round(row[key] - base[key], 2)

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) and b else None

    compare = (
        ("added_latency_p50_ms", "added p50"),
        ("added_latency_p95_ms", "added p95"),
        ("added_latency_p99_ms", "added p99"),
        ("added_ttfb_p50_ms", "added ttfb p50"),
        ("rps", "req/s"),
        ("proxy_cpu_s_per_1k", "cpu/1k"),
        ("peak_rss_mb", "peak rss"),
        ("latency_p50_ms", "p50"),
        ("latency_p95_ms", "p95"),
        ("latency_p99_ms", "p99"),
        ("ttfb_p50_ms", "ttfb p50"),
    )
    ratios: dict[str, Any] = {}
    for label, (num, den) in {
        "patched/stock": ("patched", "stock"),
        "patched-untuned/stock": ("patched-untuned", "stock"),
        "patched/patched-untuned": ("patched", "patched-untuned"),
        "tagged/untagged": ("patched", "patched-untagged"),
    }.items():
        if num not in results or den not in results:
            continue
        per_level = {}
        for level, row in results[num]["levels"].items():
            other = results[den]["levels"].get(level, {})
            per_level[level] = {key: ratio(row.get(key), other.get(key)) for key, _ in compare}
        ratios[label] = per_level
    return ratios


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def table(results: dict[str, dict[str, Any]], ratios: dict[str, Any]) -> str:
    lines = [
        "| path | conc | p50 ms | p95 ms | p99 ms | added p50 | added p95 | added p99 | ttfb p50 | "
        "req/s | proxy CPU s/1k req | peak RSS MB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        for level, row in result.get("levels", {}).items():
            cells = [
                name,
                level,
                row.get("latency_p50_ms"),
                row.get("latency_p95_ms"),
                row.get("latency_p99_ms"),
                row.get("added_latency_p50_ms"),
                row.get("added_latency_p95_ms"),
                row.get("added_latency_p99_ms"),
                row.get("ttfb_p50_ms"),
                row.get("rps"),
                row.get("proxy_cpu_s_per_1k"),
                row.get("peak_rss_mb"),
                row.get("errors"),
            ]
            lines.append("| " + " | ".join(_fmt(cell) for cell in cells) + " |")
    for label, per_level in ratios.items():
        # Tagged and untagged run on one proxy: compare end-to-end figures, not the added part.
        prefix = "" if label == "tagged/untagged" else "added "
        lines += [
            "",
            f"| {label} | {prefix}p50 | {prefix}p95 | {prefix}p99 | {prefix}ttfb p50 "
            "| req/s | CPU/1k | peak RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for level, values in per_level.items():
            timing = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "ttfb_p50_ms")
            keys = [("added_" if prefix else "") + key for key in timing]
            keys += ["rps", "proxy_cpu_s_per_1k", "peak_rss_mb"]
            lines.append(f"| c={level} | " + " | ".join(_fmt(values.get(k)) for k in keys) + " |")
    lines.append("")
    lines.append(
        "| path | workers | startup s | spans/request | raw_gen_ai_request spans "
        "| LLM spans with session.type |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        if name == "direct":
            continue
        spans = result.get("spans") or {}
        seen = result.get("session_type_on_spans") or {}
        lines.append(
            f"| {name} | {_fmt(result.get('workers'))} | {_fmt(result.get('startup_s'))} | "
            f"{_fmt(result.get('spans_per_request'))} | {_fmt(spans.get('raw_gen_ai_request'))} | "
            f"{_fmt(seen.get('with_session_type'))}/{_fmt(seen.get('sampled'))} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_at_start": [round(x, 2) for x in load],
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run for CI: concurrency 1 and 4, 30 requests"
    )
    parser.add_argument(
        "--output", type=Path, help="JSON file (default bench/results/proxy-<timestamp>.json)"
    )
    parser.add_argument("--paths", help=f"comma-separated subset of {','.join(PATHS_FULL)}")
    parser.add_argument("--levels", help="concurrency=requests,... (default 1=300,8=1000,32=1500)")
    parser.add_argument("--think-ms", type=float, default=THINK_MS, help="fake upstream think time")
    parser.add_argument("--reply-words", type=int, default=REPLY_WORDS, help="words in the streamed reply")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _levels(args: argparse.Namespace) -> dict[int, int]:
    if args.levels:
        return {int(c): int(n) for c, n in (item.split("=") for item in args.levels.split(","))}
    return dict(SMOKE_LEVELS if args.smoke else FULL_LEVELS)


@contextlib.contextmanager
def bench_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="cs-proxy-bench-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client:
        return client_main()
    paths = tuple(args.paths.split(",")) if args.paths else (PATHS_SMOKE if args.smoke else PATHS_FULL)
    levels = _levels(args)
    body = json.dumps(claude_code_body()).encode()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    output = args.output or RESULTS_DIR / f"proxy-{run_id}.json"
    version = pinned_litellm()
    stock = stock_site(version) if "stock" in paths else None
    started = time.monotonic()
    report: dict[str, Any] = {
        "run_id": run_id,
        "mode": "smoke" if args.smoke else "full",
        "litellm": version,
        "machine": machine(),
        "workload": {
            "think_ms": args.think_ms,
            "reply_words": args.reply_words,
            "chunk_words": CHUNK_WORDS,
            "request_body_bytes": len(body),
            "levels": {str(c): n for c, n in levels.items()},
            "warmup_requests": 8 if args.smoke else WARMUP_REQUESTS,
            "paths": list(paths),
        },
        "shipped_defaults": {
            "workers": stack.StackSettings().workers,
            "proxy_env": dict(getattr(stack, "PROXY_TUNING_ENV", {})),
        },
    }
    results: dict[str, dict[str, Any]] = {}
    pid_files: list[Path] = []  # of everything this run started
    signal.signal(signal.SIGTERM, _interrupted)
    with bench_root() as root:
        try:
            bench = start_base(root, args.think_ms, args.reply_words, pid_files)
            for path in paths:
                print(f"measuring {path}...", file=sys.stderr, flush=True)
                results.update(run_path(bench, path, levels, body, run_id, args.smoke, stock))
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second ^C must not skip the stops
            for pid_file in reversed(pid_files):
                procs.stop(pid_file)
            signal.signal(signal.SIGINT, signal.default_int_handler)
    ratios = add_derived(results)
    report["results"] = results
    report["ratios"] = ratios
    report["duration_s"] = round(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results, ratios))
    print(f"\nwrote {output} ({report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
