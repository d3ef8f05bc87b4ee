"""What a user waits for at the command line: `up` cold and warm, `--proxy-wide` set and `--reset`.

Runs the CLI as a user does (subprocesses: `python -m claude_session up --offline` and
`scripts/claude-session`), on free 127.0.0.1 ports with a fresh state directory
(CLAUDE_SESSION_STATE_DIR), then stops what `up` started by PID (`down`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import REPO
from bench.services import bench_environ
from claude_session.stack import procs

LAUNCHER = REPO / "scripts" / "claude-session"


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return round(seconds, 2)


def stack_timings(root: Path) -> dict[str, Any]:
    """Seconds for `up` (fresh state, nothing running), `up` again (running), `--proxy-wide`, `--reset`."""
    env = {**bench_environ(), "CLAUDE_SESSION_STATE_DIR": str(root / "cli-stack")}
    cli = [sys.executable, "-m", "claude_session"]
    up = [*cli, "up", "--offline"]
    for option in ("--proxy-port", "--phoenix-port", "--phoenix-grpc-port", "--upstream-port"):
        up += [option, str(procs.free_port())]
    try:
        figures: dict[str, Any] = {"up_cold_s": _timed(up, env), "up_warm_s": _timed(up, env)}
        figures["proxy_wide_set_s"] = _timed(
            [str(LAUNCHER), "-t", "code-review", "-v", "v2", "--proxy-wide"], env
        )
        figures["proxy_wide_reset_s"] = _timed([str(LAUNCHER), "--reset"], env)
        return figures
    finally:
        subprocess.run([*cli, "down"], env=env, cwd=REPO, capture_output=True, check=False)
