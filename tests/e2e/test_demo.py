"""The README's demos run the real Claude Code (two prompt versions; an experiment to its verdict)
and clean up."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from claude_session.cli.demo import DEMO_STATE
from claude_session.cli.experiment_demo import DEMO_STATE as EXPERIMENT_DEMO_STATE
from claude_session.stack import procs
from claude_session.stack.state import StatePaths
from tests.support import LAUNCHER, Stack

pytestmark = pytest.mark.e2e


def test_demo_prints_the_comparison_and_stops_what_it_started(live_stack: Stack, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(LAUNCHER), "demo"],
        env=live_stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "v2 vs v1:" in result.stdout
    assert "cost (LiteLLM)" in result.stdout
    assert "session.prompt_version == 'v1'" in result.stdout
    state = StatePaths(Path(DEMO_STATE))
    for name in ("proxy", "phoenix", "upstream"):
        assert procs.read_pid(state.pid_file(name)) is None, f"demo left {name} running"


def test_experiment_demo_ends_with_a_verdict_and_phoenix_comparison(live_stack: Stack) -> None:
    result = subprocess.run(
        [str(LAUNCHER), "experiment", "demo"],
        env=live_stack.env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "finished: 12 of 12 runs done" in result.stdout
    assert re.search(r"v2 success rate: (better|worse|equivalent|inconclusive)", result.stdout)
    assert re.search(r"v2 cost per run: (better|worse|equivalent|inconclusive)", result.stdout)
    last = result.stdout.rstrip().splitlines()[-1]
    assert re.fullmatch(
        r"in Phoenix, side by side: http://127\.0\.0\.1:\d+/datasets/\S+/compare\?experimentId=\S+", last
    )
    state = StatePaths(Path(EXPERIMENT_DEMO_STATE))
    for name in ("proxy", "phoenix", "upstream"):
        assert procs.read_pid(state.pid_file(name)) is None, f"the experiment demo left {name} running"
