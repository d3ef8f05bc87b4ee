"""`claude-session doctor` names the step that fails."""

from __future__ import annotations

import shutil
from pathlib import Path

from claude_session.stack.state import read_json, write_json
from tests.support import Stack, wait_for_spans


def test_doctor_passes_on_a_healthy_stack_and_shows_the_last_session(live_stack: Stack) -> None:
    session = {"session_id": "doctor-check-1", "session_type": "doctor"}
    assert live_stack.messages(session).status_code == 200
    wait_for_spans(live_stack, {"session.id": "doctor-check-1"}, 1)
    result = live_stack.launcher("doctor", env={"CLAUDE_SESSION_ID": "doctor-check-1"})
    assert result.returncode == 0, result.stdout
    for step in (
        "proxy answers",
        "proxy accepts its key",
        "Phoenix answers",
        "OTLP endpoint reachable",
        "Claude Code installed",
        "session on the last span",
    ):
        assert f"ok    {step}" in result.stdout
    assert "doctor-check-1 is on its spans" in result.stdout


def test_doctor_names_the_failing_step(live_stack: Stack, tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(live_stack.state.root, state, ignore=shutil.ignore_patterns("phoenix", "logs", "run"))
    recorded = read_json(state / "stack.json") or {}
    write_json(state / "stack.json", {**recorded, "phoenix_url": "http://127.0.0.1:9"})
    result = live_stack.launcher("doctor", env={"CLAUDE_SESSION_STATE_DIR": str(state)})
    assert result.returncode == 1
    assert "ok    proxy answers" in result.stdout
    assert "FAIL  Phoenix answers" in result.stdout
    assert "first failing step: Phoenix answers" in result.stdout


def test_doctor_without_a_stack(live_stack: Stack, tmp_path: Path) -> None:
    result = live_stack.launcher("doctor", env={"CLAUDE_SESSION_STATE_DIR": str(tmp_path / "none")})
    assert result.returncode == 1
    assert "FAIL  stack recorded" in result.stdout
