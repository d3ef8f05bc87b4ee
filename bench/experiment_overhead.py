"""The experiment runner's own time per run, beside Claude Code's (issue 20: median <= 1 s).

    python bench/experiment_overhead.py [--runs N] [-j N]

Starts a private offline stack as a user does (`up --offline` on free 127.0.0.1 ports, a fresh
state directory), makes the example repository, and runs an experiment of N runs on one task
with the real Claude Code CLI (a variant carrying `[[solve p=1]]`: each run reads, edits and
answers, three requests, then the check passes). From the ledger, per attempt: the wall time
from worktree to teardown, and Claude Code's own process time; the runner's overhead is the
difference (worktree, HOME, waiting for the run's spans in Phoenix, the check, the annotation,
teardown). Prints the medians as JSON, then stops the stack (`down`). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root instead of bench/ on the path
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import REPO
from bench.services import bench_environ
from claude_session.experiment.example import make_example_repo
from claude_session.experiment.ledger import Ledger
from claude_session.stack import procs

LAUNCHER = REPO / "scripts" / "claude-session"
EXPERIMENT = """\
name = "overhead"
repetitions = {runs}
budget_usd = 1000
seed = 1
[[tasks]]
id = "fix-add"
repository = "repo"
commit = "{commit}"
prompt = "The test in test_calc.py fails. Fix the bug in calc.py so that it passes."
check = "python3 -m unittest -q test_calc"
timeout = 300
[[variants]]
name = "v1"
claude_md = "[[solve p=1]]"
"""


def measure(root: Path, runs: int, jobs: int) -> dict[str, object]:
    env = {**bench_environ(), "CLAUDE_SESSION_STATE_DIR": str(root / "state")}
    up = [sys.executable, "-m", "claude_session", "up", "--offline"]
    for option in ("--proxy-port", "--phoenix-port", "--phoenix-grpc-port", "--upstream-port"):
        up += [option, str(procs.free_port())]
    try:
        subprocess.run(up, env=env, cwd=REPO, check=True, capture_output=True)
        commit = make_example_repo(root / "repo", env)
        path = root / "experiment.toml"
        path.write_text(EXPERIMENT.format(runs=runs, commit=commit))
        subprocess.run([str(LAUNCHER), "experiment", "run", str(path), "-j", str(jobs)], env=env, check=True)
        ends = [
            e
            for e in Ledger(root / "state" / "experiments" / "overhead" / "ledger.jsonl").events()
            if e["event"] == "attempt_end" and e.get("outcome") == "passed"
        ]
        walls = [float(e["wall_s"]) for e in ends]
        claude = [float(e["claude_wall_s"]) for e in ends]
        overhead = [w - c for w, c in zip(walls, claude, strict=True)]
        return {
            "runs": len(ends),
            "jobs": jobs,
            "wall_per_run_median_s": round(statistics.median(walls), 3),
            "claude_code_median_s": round(statistics.median(claude), 3),
            "runner_overhead_median_s": round(statistics.median(overhead), 3),
            "runner_overhead_max_s": round(max(overhead), 3),
            "cpus": os.cpu_count(),
        }
    finally:
        subprocess.run(
            [sys.executable, "-m", "claude_session", "down"], env=env, cwd=REPO, capture_output=True
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of the experiment (default 10)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="runs at a time (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="experiment-overhead-") as root:
        print(json.dumps(measure(Path(root), args.runs, args.jobs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
