"""Measuring one path: warm-up, each concurrency level (ABBA blocks for tagged/untagged), spans.

Per level: latency and time-to-first-byte percentiles, requests per second, and for a
proxy its process tree's CPU per 1,000 requests and peak RSS (bench.sampling).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import paths
from bench.load import ClientResult, Workload, run_client, workload_for
from bench.phoenix_spans import (
    phoenix_db_bytes,
    session_attributes_seen,
    wait_phoenix_idle,
    wait_spans_settled,
)
from bench.sampling import RssSampler, tree_cpu_seconds, tree_rss_mb
from bench.services import Services

WARMUP_REQUESTS = 60
SMOKE_WARMUP_REQUESTS = 8
WARMUP_CONCURRENCY = 4


@dataclass
class Accumulated:
    """One workload's raw figures over its blocks at one level."""

    latency_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    stack_peak_rss_mb: float = 0.0  # proxy + Phoenix, sampled together

    def add(
        self, block: ClientResult, cpu_s: float, peak_rss_mb: float, stack_peak_rss_mb: float = 0.0
    ) -> None:
        self.latency_ms += block["latency_ms"]
        self.ttfb_ms += block["ttfb_ms"]
        self.first_errors += block["first_errors"]
        self.errors += block["errors"]
        self.wall_s += block["wall_s"]
        self.client_cpu_s += block["client_cpu_s"]
        for status, count in block["statuses"].items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.cpu_s += cpu_s
        self.peak_rss_mb = max(self.peak_rss_mb, peak_rss_mb)
        self.stack_peak_rss_mb = max(self.stack_peak_rss_mb, stack_peak_rss_mb)


def percentile(values: Sequence[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


def figures(raw: Accumulated, concurrency: int, total: int, proxied: bool) -> dict[str, Any]:
    """The JSON row of one workload at one level."""
    ok = len(raw.latency_ms)
    row: dict[str, Any] = {
        "concurrency": concurrency,
        "requests": total,
        "ok": ok,
        "errors": raw.errors,
        "first_errors": raw.first_errors[:3],
        "statuses": raw.statuses,
        "wall_s": round(raw.wall_s, 3),
        "rps": round(ok / raw.wall_s, 2) if raw.wall_s else None,
        "client_cpu_s": round(raw.client_cpu_s, 2),
    }
    for label, values in (("latency", raw.latency_ms), ("ttfb", raw.ttfb_ms)):
        for pct in (50, 95, 99):
            value = percentile(values, pct)
            row[f"{label}_p{pct}_ms"] = round(value, 2) if value is not None else None
        row[f"{label}_mean_ms"] = round(statistics.fmean(values), 2) if values else None
    if proxied:
        row["proxy_cpu_s_per_1k"] = round(raw.cpu_s / max(total, 1) * 1000, 2)
        row["peak_rss_mb"] = round(raw.peak_rss_mb, 1)
        row["stack_peak_rss_mb"] = round(raw.stack_peak_rss_mb, 1)
    return row


def measure(
    pid: int | None,
    workloads: dict[str, Workload],
    body: bytes,
    concurrency: int,
    total: int,
    blocks: int = 1,
    phoenix_pid: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Measure each workload with `total` requests; name -> figures.

    With several workloads and `blocks` > 1, each one's requests are split into blocks run
    in ABBA order (A B B A A B B A ...), so that drift on a shared machine hits all alike.
    """
    names = list(workloads)
    order: list[str] = []
    for index in range(blocks):
        order += names if index % 2 == 0 else names[::-1]
    raw = {name: Accumulated() for name in names}
    for index, name in enumerate(order):
        nth = order[:index].count(name)  # spread `total` over this workload's blocks exactly
        count = total // blocks + (1 if nth < total % blocks else 0)
        cpu_before = tree_cpu_seconds(pid) if pid else 0.0
        with RssSampler(pid) as rss, RssSampler(pid, phoenix_pid) as stack_rss:
            block = run_client(workloads[name], body, concurrency, count)
        cpu = tree_cpu_seconds(pid) - cpu_before if pid else 0.0
        raw[name].add(block, cpu, rss.peak, stack_rss.peak if phoenix_pid else 0.0)
    return {name: figures(raw[name], concurrency, total, pid is not None) for name in names}


def run_path(
    services: Services,
    path: str,
    levels: dict[int, int],
    body: bytes,
    run_id: str,
    smoke: bool,
    stock_copy: Path | None,
) -> dict[str, dict[str, Any]]:
    """Measure one path (the patched one also yields its untagged twin); name -> result."""
    tagged_by_name = paths.variants(path)
    warmup = SMOKE_WARMUP_REQUESTS if smoke else WARMUP_REQUESTS
    wait_phoenix_idle(services, 5 if smoke else 90)
    phoenix_pid = services.phoenix_pid
    phoenix_before = (phoenix_db_bytes(services), tree_cpu_seconds(phoenix_pid) if phoenix_pid else 0.0)
    started = time.monotonic()
    with paths.path_under_test(services, path, stock_copy) as proxy:
        startup = round(time.monotonic() - started, 1) if proxy else None
        results: dict[str, dict[str, Any]] = {
            name: {"levels": {}, "startup_s": startup} for name in tagged_by_name
        }
        port = proxy.port if proxy else services.upstream_port
        key = proxy.key if proxy else None
        # The first request a freshly started proxy serves (one client, one request), then warm-up.
        first = run_client(workload_for(port, key, True, run_id), body, 1, 1)["latency_ms"]
        run_client(workload_for(port, key, True, run_id), body, WARMUP_CONCURRENCY, warmup)
        if proxy:
            rss_after_warmup = round(tree_rss_mb(proxy.pid), 1)
            wait_phoenix_idle(services, 5 if smoke else 90)
            stack_idle = round(tree_rss_mb(proxy.pid) + (tree_rss_mb(phoenix_pid) if phoenix_pid else 0.0), 1)
            for name in tagged_by_name:
                results[name]["rss_after_warmup_mb"] = rss_after_warmup
                results[name]["stack_idle_rss_mb"] = stack_idle
                results[name]["workers"] = proxy.workers
                results[name]["first_request_ms"] = round(first[0], 1) if first else None
        for concurrency, total in levels.items():
            wait_phoenix_idle(services, 5 if smoke else 90)
            workloads = {
                name: workload_for(port, key, tagged, run_id) for name, tagged in tagged_by_name.items()
            }
            # Tagged and untagged share the proxy: ABBA blocks so that drift hits both alike.
            blocks = 4 if len(workloads) > 1 else 1
            rows = measure(
                proxy.pid if proxy else None, workloads, body, concurrency, total, blocks, phoenix_pid
            )
            for name, row in rows.items():
                results[name]["levels"][str(concurrency)] = row
                print(
                    f"  {name:17s} c={concurrency:<3d} p50 {row['latency_p50_ms']} ms, "
                    f"{row['rps']} req/s, errors {row['errors']}",
                    file=sys.stderr,
                    flush=True,
                )
        if proxy:
            counts = wait_spans_settled(services, proxy.project, 10 if smoke else 240)
            sent = warmup + sum(levels.values()) * len(tagged_by_name)
            wait_phoenix_idle(services, 10 if smoke else 120)
            stored = phoenix_db_bytes(services) - phoenix_before[0]
            ingest_cpu = (tree_cpu_seconds(phoenix_pid) if phoenix_pid else 0.0) - phoenix_before[1]
            seen = session_attributes_seen(services, proxy.project)
            for name in tagged_by_name:
                results[name]["phoenix_bytes_per_request"] = round(stored / (sent + 1))
                results[name]["phoenix_cpu_ms_per_request"] = round(ingest_cpu / (sent + 1) * 1000, 2)
                results[name]["spans"] = counts
                results[name]["spans_per_request"] = (
                    round(counts["total"] / sent, 3) if counts and counts.get("total") else None
                )
                results[name]["session_type_on_spans"] = dict(seen)
    return results
