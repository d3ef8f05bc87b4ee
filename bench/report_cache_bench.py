"""`report` over the million-span PostgreSQL Phoenix: cold, warm, after new spans, and --no-cache.

Runs the command line as a user does (a subprocess each), on a stack started with
`claude-session up --postgres` whose state directory is `bench/.data/report-1m` and whose data
bench/pg_load.py wrote. Prints wall seconds, peak RSS of each run and whether the cached and
uncached JSON (without `timing`) are identical. Run it at most once or twice: each run adds
10,000 spans and reads a million spans from Phoenix twice.

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
    """Wall seconds, peak RSS (MB, via GNU time), the JSON report without timing, stderr."""
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
    report.pop("timing", None)
    return wall, rss, report, "\n".join(line for line in lines if not line.startswith("RSS "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seed", type=int, required=True, help="the 10,000 new spans' seed (a new one per run)"
    )
    args = parser.parse_args()
    state = Path(os.environ["CLAUDE_SESSION_STATE_DIR"])
    url = (state / "database_url").read_text().strip()
    shutil.rmtree(state / "report-cache", ignore_errors=True)
    rows = []
    wall, rss, _, err = timed(REPORT)
    rows.append(("cold (no cache file)", wall, rss))
    print(err, file=sys.stderr)
    print(f"cold: {wall:.2f} s, peak RSS {rss:.0f} MB", file=sys.stderr, flush=True)
    wall, rss, warm, _ = timed(REPORT)
    rows.append(("warm (nothing new)", wall, rss))
    loaded = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.pg_load",
            url,
            PROJECT,
            "--spans",
            "10000",
            "--sessions",
            "100",
            "--seed",
            str(args.seed),
            "--days",
            "0.02",
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if loaded.returncode != 0:  # its last line only: the command holds the database URL and password
        raise SystemExit(f"bench.pg_load failed: {loaded.stderr.strip().splitlines()[-1]}")
    wall, rss, cached, _ = timed(REPORT)
    rows.append(("after 10,000 new spans", wall, rss))
    wall, rss, direct, _ = timed([*REPORT, "--no-cache"])
    rows.append(("`--no-cache` (every span from Phoenix)", wall, rss))
    print("| report over the million-span project | wall s | peak RSS MB |\n|---|---:|---:|")
    for name, seconds, peak in rows:
        print(f"| {name} | {seconds:.2f} | {peak:.0f} |")
    same = json.dumps(cached, sort_keys=True) == json.dumps(direct, sort_keys=True)
    print(f"\nspans: {cached['requests']:,}; cached and --no-cache JSON identical: {same}")
    print(f"warm before the new spans saw {warm['requests']:,} spans")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
