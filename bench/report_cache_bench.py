"""`report` over the million-span PostgreSQL Phoenix: cold, warm, after new spans, and --no-cache.

Runs the command line as a user does (a subprocess each), on a stack started with
`claude-session up --postgres` whose state directory is `bench/.data/report-1m` and whose data
bench/pg_load.py wrote. Prints wall seconds, peak RSS of each run and whether the cached and
uncached JSON (without `timing`) are identical. Each run adds 20,000 spans (10,000 new, 10,000
replayed days late) and reads the million from Phoenix twice; runs at least 30 minutes apart (the
new spans' window must not reach the previous run's).

    CLAUDE_SESSION_STATE_DIR=bench/.data/report-1m .venv/bin/python -m bench.report_cache_bench --seed 101
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PROJECT = "report-1m"
REPORT = [
    str(REPO / "scripts" / "claude-session"),
    "report",
    "--project",
    PROJECT,
    "--no-phoenix-check",
    "--format",
    "json",
]


def timed(argv: list[str]) -> tuple[float, float, dict[str, Any], str]:
    """Wall seconds, peak RSS (MB, via GNU time), the JSON report (its `timing` apart), stderr."""
    began = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", *argv], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
    lines = done.stderr.splitlines()
    rss = float(next(line for line in reversed(lines) if line.startswith("RSS ")).split()[1]) / 1024
    report = json.loads(done.stdout)
    report["_timing"] = report.pop("timing", {})
    return wall, rss, report, "\n".join(line for line in lines if not line.startswith("RSS "))


def load(url: str, seed: int, days: float, ending: float, min_days: float, think: str = "2 60") -> None:
    """10,000 spans in 100 sessions written into Phoenix's tables (bench/pg_load.py)."""
    argv = [sys.executable, "-m", "bench.pg_load", url, PROJECT, "--spans", "10000", "--sessions", "100"]
    argv += ["--seed", str(seed), "--days", str(days), "--ending", str(ending), "--min-days", str(min_days)]
    argv += ["--think", *think.split()]
    loaded = subprocess.run(argv, check=False, cwd=REPO, capture_output=True, text=True)
    if loaded.returncode != 0:  # its last line only: the command holds the database URL and password
        raise SystemExit(f"bench.pg_load failed: {loaded.stderr.strip().splitlines()[-1]}")


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = [{k: v for k, v in r.items() if k != "_timing"} for r in (a, b)]
    return json.dumps(strip[0], sort_keys=True) == json.dumps(strip[1], sort_keys=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed",
        type=int,
        required=True,
        help="the new spans' seed (a new one per run; the replayed ones use seed + 5000)",
    )
    args = parser.parse_args()
    state = Path(os.environ["CLAUDE_SESSION_STATE_DIR"])
    url = (state / "database_url").read_text().strip()
    shutil.rmtree(state / "report-cache", ignore_errors=True)
    rows: list[tuple[str, float, float, int]] = []

    def run(name: str, *extra: str) -> dict[str, Any]:
        wall, rss, report, err = timed([*REPORT, *extra])
        rows.append((name, wall, rss, int(report["_timing"].get("fetched", 0))))
        print(f"{name}: {wall:.2f} s, peak RSS {rss:.0f} MB", file=sys.stderr, flush=True)
        if err:
            print("  " + err.replace("\n", "\n  "), file=sys.stderr, flush=True)
        return report

    run("cold (no cache file)")
    for i in range(3):
        run(f"warm (nothing new), run {i + 1}")
    # New traffic: 100 sessions of ~100 requests, 0.5-2 s apart (~8 minutes each), started 14 to
    # 29 minutes ago, so all ended. The window they start is new unless another run loaded spans
    # in the last half hour: runs at least 30 minutes apart.
    load(url, args.seed, days=0.02, ending=0.0, min_days=0.01, think="0.5 2")
    run("after 10,000 new spans (the last half hour)")
    load(url, args.seed + 5000, days=3.0, ending=4.0, min_days=0.0)  # a spool replay: days-old spans
    cached = run("after 10,000 replayed spans (4 to 7 days old)")
    direct = run("`--no-cache` (every span from Phoenix)", "--no-cache")
    print("| report over the million-span project | wall s | peak RSS MB | spans read from Phoenix |")
    print("|---|---:|---:|---:|")
    for name, seconds, peak, fetched in rows:
        print(f"| {name} | {seconds:.2f} | {peak:.0f} | {fetched:,} |")
    identical = same(cached, direct)
    print(f"\nspans: {cached['requests']:,}; cached and --no-cache JSON identical: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
