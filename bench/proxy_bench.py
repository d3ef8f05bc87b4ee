"""Proxy overhead benchmark: direct vs stock LiteLLM vs the patched proxy, one workload, one go.

The same streamed Claude Code-like workload (bench.load) goes to one fake Anthropic
upstream with a fixed think time through each path (bench.paths: direct, stock,
patched-untuned, patched and patched-untagged); all export spans to one real Phoenix,
each to its own project. For each concurrency level it reports latency and time to first
streamed byte (p50/p95/p99, client side), the latency added over direct, requests per
second, proxy CPU seconds per 1,000 requests and peak RSS of the proxy's process tree
(bench.sampling), spans per request as they reach Phoenix, and the ratios patched/stock
and tagged/untagged. The table goes to stdout, the figures to JSON
(``bench/results/proxy-<timestamp>.json`` unless ``--output``). Nothing is asserted.

    .venv/bin/python bench/proxy_bench.py            # full run, ~8 min on 2 cores
    .venv/bin/python bench/proxy_bench.py --smoke    # direct and patched only, concurrency 1 and 4

Everything is started on free ports bound to 127.0.0.1 with a temporary state directory
and stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root instead of bench/ on the path
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import RESULTS_DIR, paths
from bench.load import claude_code_body
from bench.measure import SMOKE_WARMUP_REQUESTS, WARMUP_REQUESTS, run_path
from bench.report_table import add_derived, cli_table, table
from bench.services import Started, start_services
from bench.stack_timings import stack_timings
from bench.stock import pinned_litellm, stock_site
from claude_session.stack.proxy_env import PROXY_TUNING_ENV
from claude_session.stack.settings import DEFAULT_WORKERS

THINK_MS = 50.0
REPLY_WORDS = 300  # ~400 tokens streamed in ~75 text deltas
CHUNK_WORDS = 4
FULL_LEVELS = {1: 300, 8: 1000, 32: 1500}  # concurrency -> measured requests
SMOKE_LEVELS = {1: 30, 4: 30}
PATHS_FULL = paths.PATHS
# CI's smoke run: the patched proxy (and its untagged twin) against the floor. Stock costs a
# LiteLLM install and a proxy start of its own; its ratios are unit-tested (test_bench_ratios).
PATHS_SMOKE = (paths.DIRECT, paths.PATCHED)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run for CI: direct and patched (stock with --paths), concurrency 1 and 4, 30 requests",
    )
    parser.add_argument(
        "--output", type=Path, help="JSON file (default bench/results/proxy-<timestamp>.json)"
    )
    parser.add_argument("--paths", help=f"comma-separated subset of {','.join(PATHS_FULL)}")
    parser.add_argument("--levels", help="concurrency=requests,... (default 1=300,8=1000,32=1500)")
    parser.add_argument("--think-ms", type=float, default=THINK_MS, help="fake upstream think time")
    parser.add_argument("--reply-words", type=int, default=REPLY_WORDS, help="words in the streamed reply")
    parser.add_argument(
        "--cli-timings",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time `up` cold/warm, --proxy-wide and --reset on a stack of their own (not with --smoke)",
    )
    args = parser.parse_args(argv)
    chosen = tuple(args.paths.split(",")) if args.paths else (PATHS_SMOKE if args.smoke else PATHS_FULL)
    unknown = sorted(set(chosen) - set(PATHS_FULL))
    if unknown:
        parser.error(f"unknown path(s) {', '.join(unknown)}; known: {', '.join(PATHS_FULL)}")
    args.paths = chosen
    return args


def _levels(args: argparse.Namespace) -> dict[int, int]:
    if args.levels:
        return {int(c): int(n) for c, n in (item.split("=") for item in args.levels.split(","))}
    return dict(SMOKE_LEVELS if args.smoke else FULL_LEVELS)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    levels = _levels(args)
    body = json.dumps(claude_code_body()).encode()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    output: Path = args.output or RESULTS_DIR / f"proxy-{run_id}.json"
    version = pinned_litellm()
    stock_copy = stock_site(version) if paths.STOCK in args.paths else None
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
            "warmup_requests": SMOKE_WARMUP_REQUESTS if args.smoke else WARMUP_REQUESTS,
            "paths": list(args.paths),
        },
        "shipped_defaults": {"workers": DEFAULT_WORKERS, "proxy_env": dict(PROXY_TUNING_ENV)},
    }
    upstream_options = ["--think-ms", str(args.think_ms), "--reply-words", str(args.reply_words)]
    upstream_options += ["--chunk-words", str(CHUNK_WORDS)]
    results: dict[str, dict[str, Any]] = {}
    signal.signal(signal.SIGTERM, _interrupted)
    root = Path(tempfile.mkdtemp(prefix="cs-proxy-bench-"))
    timings: dict[str, Any] | None = None
    try:
        if args.cli_timings if args.cli_timings is not None else not args.smoke:
            print("timing `up`, --proxy-wide and --reset...", file=sys.stderr, flush=True)
            timings = stack_timings(root)
        with Started() as started_here:
            services = start_services(root, started_here, upstream_options)
            for path in args.paths:
                print(f"measuring {path}...", file=sys.stderr, flush=True)
                results.update(run_path(services, path, levels, body, run_id, args.smoke, stock_copy))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratios = add_derived(results)
    report["results"] = results
    report["ratios"] = ratios
    report["cli"] = timings
    report["duration_s"] = round(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results, ratios))
    if timings:
        print("\n" + cli_table(timings))
    print(f"\nwrote {output} ({report['duration_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
