"""The launcher's proxy-wide mode, status, and refusals (no Claude Code needed here)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from claude_session.stack.state import read_json, write_json
from tests.support import Stack, session_of, wait_for_spans


def test_proxy_wide_session_set_shown_applied_and_reset(live_stack: Stack) -> None:
    result = live_stack.launcher(
        "-t", "ci-pipeline", "-v", "v3", "-n", "nightly", "--id", "build-4242", "--proxy-wide"
    )
    assert result.returncode == 0, result.stderr
    try:
        status = live_stack.launcher("status")
        assert status.returncode == 0, status.stdout
        assert "proxy-wide session: build-4242 type=ci-pipeline version=v3 name=nightly" in status.stdout

        # A client that sends no session headers is tagged with the proxy-wide session...
        assert live_stack.messages(prompt="untagged").status_code == 200
        # ...and headers override it field by field.
        assert live_stack.messages({"session_type": "override"}, prompt="partly tagged").status_code == 200
        spans = wait_for_spans(live_stack, {"session.id": "build-4242"}, 2)
        seen = {session_of(s)["session.type"]: session_of(s) for s in spans}
        assert seen["ci-pipeline"]["session.prompt_version"] == "v3"
        assert seen["ci-pipeline"]["session.name"] == "nightly"
        assert seen["override"]["session.prompt_version"] == "v3"
        assert seen["override"]["session.id"] == "build-4242"
    finally:
        reset = live_stack.launcher("--reset")
    assert reset.returncode == 0, reset.stderr
    assert "build-4242 cleared" in reset.stdout
    assert "proxy-wide session: none" in live_stack.launcher("status").stdout

    marker = "after-reset-" + live_stack.master_key[-6:]
    assert live_stack.messages(extra_headers={"x-claude-code-session-id": marker}).status_code == 200
    (span,) = wait_for_spans(live_stack, {"claude_code.session_id": marker}, 1)
    assert span["attributes"]["session.id"] == marker
    assert "session.type" not in span["attributes"]


def test_reset_without_a_proxy_wide_session_says_so(live_stack: Stack) -> None:
    result = live_stack.launcher("--reset")
    assert result.returncode == 0
    assert "no proxy-wide session is active" in result.stdout


@pytest.fixture
def fake_claude(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in `claude` that records that it ran: refusals must start nothing."""
    marker = tmp_path / "claude-ran"
    fake = tmp_path / "bin" / "claude"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    return fake, marker


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "code review", "hi"], "--type: only letters"),
        (["-t", "x:y", "hi"], "--type: only letters"),
        (["-v", "v1\nX-Evil: 1", "hi"], "--version: only letters"),
        (["-n", "n" * 101, "hi"], "--name: at most 100 characters"),
        (["-n", "tab\there", "hi"], "--name: no control characters"),
        (["--id", "a:b", "hi"], "--id: only letters"),
        (["-t", "ok", "--shell", "a prompt"], "--shell takes no command"),
        (["--reset", "-t", "x"], "--reset takes no other option"),
        (["--proxy-wide", "-t", "x", "prompt"], "--proxy-wide sets the proxy's session"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_starts_nothing(
    live_stack: Stack, fake_claude: tuple[Path, Path], args: list[str], message: str
) -> None:
    fake, marker = fake_claude
    before = read_json(live_stack.state.proxy_session)
    result = live_stack.launcher(*args, env={"CLAUDE_SESSION_CLAUDE": str(fake)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("claude-session: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "X-Evil" not in result.stderr
    assert not marker.exists()
    assert read_json(live_stack.state.proxy_session) == before


def test_claude_missing_says_how_to_install(live_stack: Stack, tmp_path: Path) -> None:
    result = live_stack.launcher("-t", "x", "hi", env={"CLAUDE_SESSION_CLAUDE": str(tmp_path / "nope")})
    assert result.returncode == 127
    assert result.stderr.count("\n") == 1
    assert "is not an executable" in result.stderr


def test_stack_not_running_says_to_start_it(
    live_stack: Stack, tmp_path: Path, fake_claude: tuple[Path, Path]
) -> None:
    fake, marker = fake_claude
    result = live_stack.launcher(
        "-t",
        "x",
        "hi",
        env={"CLAUDE_SESSION_STATE_DIR": str(tmp_path / "empty"), "CLAUDE_SESSION_CLAUDE": str(fake)},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "claude-session: the stack is not running; start it with `claude-session up` (or `up --offline`)"
    )
    assert not marker.exists()


def _copy_of_the_state(live_stack: Stack, tmp_path: Path) -> Path:
    """The running stack's state directory, copied so a test can change what the launcher reads."""
    state = tmp_path / "state"
    shutil.copytree(live_stack.state.root, state, ignore=shutil.ignore_patterns("phoenix", "logs", "run"))
    return state


def _one_off(live_stack: Stack, state: Path, fake: Path) -> subprocess.CompletedProcess[str]:
    env = {"CLAUDE_SESSION_STATE_DIR": str(state), "CLAUDE_SESSION_CLAUDE": str(fake)}
    return live_stack.launcher("-t", "x", "hi", env=env)


def test_phoenix_unreachable_runs_with_a_one_line_warning(
    live_stack: Stack, tmp_path: Path, fake_claude: tuple[Path, Path]
) -> None:
    """The proxy spools the spans on disk until Phoenix is back: the session runs."""
    fake, marker = fake_claude
    state = _copy_of_the_state(live_stack, tmp_path)
    recorded = read_json(state / "stack.json") or {}
    write_json(state / "stack.json", {**recorded, "phoenix_url": "http://127.0.0.1:9"})
    result = _one_off(live_stack, state, fake)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "Phoenix is not reachable" in line]
    assert len(warnings) == 1 and "warning: Phoenix is not reachable at http://127.0.0.1:9" in warnings[0]
    assert "spans wait in" in warnings[0]
    assert marker.exists()


def test_last_session_not_recordable_is_one_warning_and_the_session_runs(
    live_stack: Stack, tmp_path: Path, fake_claude: tuple[Path, Path]
) -> None:
    fake, marker = fake_claude
    state = _copy_of_the_state(live_stack, tmp_path)
    (state / "last_session.json").unlink(missing_ok=True)
    (state / "last_session.json").mkdir()  # a path nothing can be written to
    result = _one_off(live_stack, state, fake)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "cannot record this session" in line]
    assert len(warnings) == 1 and "`claude-session rate` will need its id" in warnings[0], result.stderr
    assert marker.exists()


def test_status_json_lists_components(live_stack: Stack) -> None:
    result = live_stack.launcher("status", "--json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert set(report["components"]) == {"proxy", "phoenix", "upstream"}
    assert all(c["healthy"] for c in report["components"].values())
    assert all(c["url"].startswith("http://127.0.0.1:") for c in report["components"].values())
