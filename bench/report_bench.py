"""Benchmark `claude-session report` against a real Phoenix holding months of traffic.

Loads N LLM spans (`litellm_request`, shaped like the patched proxy's: bench.report_data)
across M sessions into Phoenix over OTLP/HTTP with arize-phoenix-otel (bench.span_loader),
once: the Phoenix working directory is kept under bench/.data/ and reused by later runs.
Then runs `claude-session report` as a subprocess, end to end, a few times per variant,
and prints the wall time next to the report's own split between fetching from Phoenix
and aggregating.

    .venv/bin/python bench/report_bench.py            # 50,000 spans, 500 sessions
    .venv/bin/python bench/report_bench.py --small    # 2,000 spans, 20 sessions (quick)
    .venv/bin/python bench/report_bench.py --compare-rest   # also time the REST span listing

Phoenix is started on free ports bound to 127.0.0.1 and stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root instead of bench/ on the path
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import DATA_DIR, REPO
from bench.report_data import LLM_SPAN, Dataset, synthetic_specs
from bench.services import bench_environ, start_phoenix
from bench.span_loader import load
from claude_session.phoenix.annotations import CHECK, CODE, FAILED, HUMAN, PASSED, RATING, SessionAnnotation
from claude_session.phoenix.client import PhoenixClient
from claude_session.stack import procs
from claude_session.stack.local import register_prices
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

PROJECT = "report-bench"

VARIANTS: dict[str, list[str]] = {
    "by prompt version": ["report"],
    "by version, baseline": ["report", "--baseline", "v1", "--chart", "/dev/null"],
    "by type, baseline": ["report", "--group-by", "type", "--baseline", "code-review"],
    "one type, by version": ["report", "--type", "debugging", "--baseline", "v1"],
    "last 7 days": ["report", "--since", "7d"],
    "session list": ["sessions", "--limit", "20"],
}


def ensure_loaded(state: StatePaths, settings: StackSettings, dataset: Dataset) -> None:
    """Start Phoenix on the working directory; load the data set unless it is already there."""
    marker = state.root / "dataset.json"
    loaded = json.loads(marker.read_text()) if marker.exists() else None
    if loaded != asdict(dataset) and state.root.exists():
        print(f"building the data set in {state.root} (once)", file=sys.stderr)
        shutil.rmtree(state.root)
    start_phoenix(settings, state, bench_environ())
    if loaded == asdict(dataset):
        return
    # As `claude-session up` does: Phoenix prices spans on arrival, from its own table.
    register_prices(settings)
    specs = synthetic_specs(dataset.spans, dataset.sessions, dataset.seed)
    print(f"loading {len(specs):,} spans in {dataset.sessions} sessions...", file=sys.stderr, flush=True)
    rate = load(PhoenixClient(settings.phoenix_base, timeout=120), specs, PROJECT, dataset.payload_bytes)
    print(f"loaded at {rate:,.0f} spans/s", file=sys.stderr)
    annotate(PhoenixClient(settings.phoenix_base, timeout=120), sorted({s.session_id for s in specs}))
    marker.write_text(json.dumps(asdict(dataset)) + "\n")


def annotate(client: PhoenixClient, session_ids: list[str], batch: int = 500) -> None:
    """What users record: a `check` on every session (1 in 4 fails), a `rating` on every other one."""
    notes = []
    for index, session_id in enumerate(session_ids):
        passed = zlib.crc32(session_id.encode()) % 4 != 0
        notes.append(
            SessionAnnotation(session_id, CHECK, CODE, 1.0 if passed else 0.0, PASSED if passed else FAILED)
        )
        if index % 2 == 0:
            notes.append(SessionAnnotation(session_id, RATING, HUMAN, float(index % 11), None))
    print(f"annotating {len(session_ids):,} sessions ({len(notes):,} annotations)...", file=sys.stderr)
    for start in range(0, len(notes), batch):
        data = [note.as_json() for note in notes[start : start + batch]]
        client._request("POST", "/v1/session_annotations", {"data": data})


def run_report(base_url: str, args: list[str]) -> tuple[float, dict[str, float]]:
    """Run the CLI as a user would; return wall seconds and the report's own timing split."""
    argv = [sys.executable, "-m", "claude_session", *args, "--phoenix-url", base_url]
    argv += ["--project", PROJECT, "--format", "json"]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    timing: dict[str, float] = json.loads(done.stdout).get("timing", {})
    return wall, timing


def time_rest_listing(client: PhoenixClient, sample: int = 5_000) -> tuple[float, int]:
    """The alternative fetch: `litellm_request` spans with all their attributes, REST pages of 1000."""
    started = time.monotonic()
    count = 0
    for _ in client.spans(PROJECT, span_names=[LLM_SPAN]):
        count += 1
        if count >= sample:
            break
    return time.monotonic() - started, count


def bench(base_url: str, repeat: int) -> None:
    print(
        f"{'variant':22} {'wall s':>7} {'cold s':>7} {'fetch s':>8} {'aggr s':>7} "
        f"{'check s':>8} {'stats s':>8} {'spans':>7} {'pages':>6}"
    )
    for label, args in VARIANTS.items():
        runs = [run_report(base_url, args) for _ in range(repeat)]
        timing = runs[0][1]

        def median(key: str, runs: list[tuple[float, dict[str, float]]] = runs) -> float:
            return statistics.median(r[1].get(key, 0.0) for r in runs)

        wall = statistics.median(r[0] for r in runs)
        spans, pages = int(timing.get("spans", 0)), int(timing.get("pages", 0))
        print(
            f"{label:22} {wall:7.2f} {runs[0][0]:7.2f} {median('fetch_s'):8.2f} {median('aggregate_s'):7.2f} "
            f"{median('phoenix_cost_s'):8.2f} {median('stats_s'):8.3f} {spans:7,} {pages:6}",
            flush=True,
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="2,000 spans in 20 sessions")
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--payload-bytes", type=int, default=33_000, help="size of the prompt-like attribute on each span"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (the median is shown)")
    parser.add_argument("--workdir", type=Path, help="Phoenix working directory (default bench/.data/...)")
    parser.add_argument("--compare-rest", action="store_true", help="also time the REST span listing")
    parser.add_argument("--keep", action="store_true", help="leave Phoenix running (prints its URL)")
    args = parser.parse_args(argv)
    if args.small:
        args.spans, args.sessions = 2_000, 20
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dataset = Dataset(args.spans, args.sessions, args.seed, args.payload_bytes)
    state = StatePaths(
        args.workdir or DATA_DIR / ("phoenix-report-small" if args.small else "phoenix-report")
    )
    settings = StackSettings(
        phoenix_port=procs.free_port(), phoenix_grpc_port=procs.free_port(), project=PROJECT
    )
    try:
        ensure_loaded(state, settings, dataset)
        print(
            f"Phoenix {settings.phoenix_base}: {dataset.spans:,} LLM spans in {dataset.sessions} sessions, "
            f"{dataset.payload_bytes:,}-byte prompt attribute; `report` end to end, median of {args.repeat}",
            flush=True,
        )
        bench(settings.phoenix_base, args.repeat)
        if args.compare_rest:
            seconds, count = time_rest_listing(PhoenixClient(settings.phoenix_base, timeout=300))
            print(
                f"for comparison, REST GET /v1/projects/{{p}}/spans (every attribute): {count:,} spans in "
                f"{seconds:.2f} s, ~{seconds * dataset.spans / count:.0f} s for all {dataset.spans:,}"
            )
        if args.keep:
            print(f"Phoenix keeps running at {settings.phoenix_base} (pid file {state.pid_file('phoenix')})")
    finally:
        if not args.keep:
            procs.stop(state.pid_file("phoenix"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
