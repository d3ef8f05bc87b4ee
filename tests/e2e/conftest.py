"""What every end-to-end test needs: the real Claude Code CLI, a fresh HOME per run, the session id."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from claude_session.session import launcher
from tests.support import Stack

ANNOUNCE = re.compile(r"claude-session: (\S+) \(")


@pytest.fixture(scope="session")
def claude_bin() -> str:
    try:
        return launcher.find_claude(os.environ)
    except Exception as err:
        pytest.fail(f"the Claude Code CLI is missing; scripts/install installs it ({err})")


@pytest.fixture
def claude_env(live_stack: Stack, tmp_path: Path, claude_bin: str) -> dict[str, str]:
    """The stack's environment, a fresh HOME (Claude Code keeps state there), claude on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        **live_stack.env,
        "HOME": str(home),
        "PATH": f"{Path(claude_bin).parent}{os.pathsep}{live_stack.env.get('PATH', '')}",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


def announced_session(stderr: str) -> str:
    """The session id the launcher announces on stderr (`claude-session: ID (type version)`)."""
    match = ANNOUNCE.search(stderr)
    assert match, stderr
    return match.group(1)
