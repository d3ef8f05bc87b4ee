"""The README's demo command runs the real Claude Code for two prompt versions and cleans up."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from claude_session.cli.demo import DEMO_STATE
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
