"""Session names in any language through the launcher and the real Claude Code CLI (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import announced_session
from tests.support import Stack, session_of, wait_for_spans

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("name", ["auth module ü", "O'Brien's \"fix\" \\ 100% 🚀"])
def test_a_unicode_name_reaches_the_span_exactly(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    result = live_stack.launcher("-t", "unicode-e2e", "-n", name, "say hi", env=claude_env, timeout=180)
    assert result.returncode == 0, result.stderr
    spans = wait_for_spans(
        live_stack, {"session.id": announced_session(result.stderr), "session.name": name}, 1
    )
    assert {session_of(span)["session.name"] for span in spans} == {name}
    assert {session_of(span)["session.type"] for span in spans} == {"unicode-e2e"}


@pytest.mark.parametrize(
    "name, words",
    [
        ("two\nlines", "no control characters"),
        ("bell\x07here", "no control characters"),
        ("n" * 101, "at most 100 characters (got 101)"),
        ("日" * 101, "at most 100 characters (got 101)"),
    ],
    ids=["newline", "control", "101-ascii", "101-cjk"],
)
def test_a_bad_name_exits_2_and_starts_nothing(
    live_stack: Stack, tmp_path: Path, name: str, words: str
) -> None:
    marker = tmp_path / "claude-ran"
    fake = tmp_path / "claude"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    result = live_stack.launcher(
        "-t", "unicode-e2e", "-n", name, "say hi", env={"CLAUDE_SESSION_CLAUDE": str(fake)}
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert result.stdout == ""
    assert not marker.exists()
