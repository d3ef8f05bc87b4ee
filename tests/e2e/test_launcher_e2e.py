"""The launcher with the real Claude Code CLI, through the real patched proxy, read back from Phoenix."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from claude_session.session import launcher
from tests.e2e.conftest import announced_session
from tests.support import Stack, session_of, wait_for_spans

pytestmark = pytest.mark.e2e


def test_one_off_with_a_tool_round_trip_tags_both_requests(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "NOTES.md").write_text("notes\n")
    prompt = 'Which markdown files are here? [[tool:Glob {"pattern": "*.md"}]]'
    result = subprocess.run(
        [
            str(Path(__file__).parents[2] / "scripts/claude-session"),
            "-t",
            "code-review",
            "-v",
            "v2",
            "-n",
            "e2e-tool",
            prompt,
        ],
        env=claude_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "Tool result received" in result.stdout
    session_id = announced_session(result.stderr)
    assert re.fullmatch(r"code-review-\d{8}-\d{6}-[0-9a-f]{6}", session_id)

    spans = wait_for_spans(live_stack, {"session.id": session_id}, 2)
    assert len(spans) == 2  # the tool_use turn and the turn carrying the tool result
    conversations = set()
    for span in spans:
        attrs = session_of(span)
        assert attrs["session.type"] == "code-review"
        assert attrs["session.prompt_version"] == "v2"
        assert attrs["session.name"] == "e2e-tool"
        conversations.add(attrs["claude_code.session_id"])
    assert len(conversations) == 1  # one Claude Code conversation
    # Nothing stays active: the calling environment has no session afterwards.
    assert launcher.current_from_env(claude_env) == {}


def test_exit_code_and_passthrough_arguments_reach_claude(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path, claude_bin: str
) -> None:
    direct = subprocess.run(
        [claude_bin, "--no-such-flag"],
        env=claude_env,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert direct.returncode != 0
    wrapped = live_stack.launcher("-t", "testing", "--", "--no-such-flag", env=claude_env)
    assert wrapped.returncode == direct.returncode

    ok = live_stack.launcher(
        "-t", "testing", "-v", "v3", "--", "-p", "say hi", "--output-format", "json", env=claude_env
    )
    assert ok.returncode == 0, ok.stderr
    assert '"result"' in ok.stdout


def test_two_concurrent_one_offs_stay_separate(live_stack: Stack, claude_env: dict[str, str]) -> None:
    script = str(Path(__file__).parents[2] / "scripts/claude-session")
    runs = [
        subprocess.Popen(
            [script, "-t", "debugging", "-v", "v1", "-n", "concurrent-a", "first terminal"],
            env=claude_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [script, "-t", "refactoring", "-v", "v5", "-n", "concurrent-b", "second terminal"],
            env=claude_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        ),
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    expected = [("debugging", "v1", "concurrent-a"), ("refactoring", "v5", "concurrent-b")]
    for (_, stderr), (kind, version, name) in zip(outputs, expected, strict=True):
        for span in wait_for_spans(live_stack, {"session.id": announced_session(stderr)}, 1):
            attrs = session_of(span)
            assert (attrs["session.type"], attrs["session.prompt_version"], attrs["session.name"]) == (
                kind,
                version,
                name,
            )


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/install --dev)")
def test_shell_shows_the_session_tags_claude_and_ends_on_exit(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    tmux = ["tmux", "-L", f"cs-test-{os.getpid()}"]
    env = {**claude_env, "SHELL": "/bin/bash", "TERM": "xterm"}
    script = str(Path(__file__).parents[2] / "scripts/claude-session")
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            "cs",
            "-x",
            "200",
            "-y",
            "50",
            f"{script} -t shell-test -v v7 --shell",
        ],
        env=env,
        check=True,
        cwd=tmp_path,
    )
    try:
        pane = _wait_pane(tmux, "(claude-session: shell-test v7)")
        session_id = announced_session(pane)
        subprocess.run(
            [
                *tmux,
                "send-keys",
                "-t",
                "cs",
                'claude -p "hello from the shell" </dev/null; echo "RC=$?"',
                "Enter",
            ],
            check=True,
        )
        _wait_pane(tmux, "RC=0", timeout=120)
        subprocess.run([*tmux, "send-keys", "-t", "cs", "exit", "Enter"], check=True)
        # Leaving the shell asks one question, on a terminal only: rate the session.
        _wait_pane(tmux, "rate this session")
        subprocess.run([*tmux, "send-keys", "-t", "cs", "8", "Enter"], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            alive = subprocess.run([*tmux, "has-session", "-t", "cs"], capture_output=True).returncode == 0
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, "the session shell did not end on `exit`"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    (span,) = wait_for_spans(live_stack, {"session.id": session_id}, 1)
    assert session_of(span)["session.type"] == "shell-test"
    assert session_of(span)["session.prompt_version"] == "v7"
    query = f"session_ids={session_id}&include_annotation_names=rating"
    page = live_stack.phoenix._request(
        "GET", f"/v1/projects/{live_stack.project}/session_annotations?{query}"
    )
    assert page is not None
    (rating,) = page["data"]
    assert (rating["annotator_kind"], rating["result"]["score"]) == ("HUMAN", 8.0)


def _wait_pane(tmux: list[str], text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    pane = ""
    while time.monotonic() < deadline:
        pane = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "cs", "-S", "-200"], capture_output=True, text=True
        ).stdout
        if text in pane:
            return pane
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared; pane:\n{pane}")
