"""What the proxy process is started with: the guide's manual env vars, secrets as env, no client loop."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from claude_session.core import fields
from claude_session.stack import local as stack
from claude_session.stack.proxy_env import proxy_env
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key


def key(state: StatePaths) -> str:
    return master_key(state) or ""


@pytest.fixture
def state(tmp_path: Path) -> StatePaths:
    paths = StatePaths(tmp_path)
    paths.ensure()
    return paths


def test_manual_phoenix_session_env_vars_are_honoured(
    monkeypatch: pytest.MonkeyPatch, state: StatePaths
) -> None:
    monkeypatch.setenv("PHOENIX_SESSION_ID", "build-77")
    monkeypatch.setenv("PHOENIX_SESSION_TYPE", "ci-pipeline")
    monkeypatch.setenv("PHOENIX_PROMPT_VERSION", "v1")
    env = proxy_env(StackSettings(offline=True), key(state), None, os.environ, inherit_session_env=True)
    assert env["PHOENIX_SESSION_ID"] == "build-77"
    assert env["PHOENIX_SESSION_TYPE"] == "ci-pipeline"
    assert env["PHOENIX_PROMPT_VERSION"] == "v1"
    assert "PHOENIX_SESSION_NAME" not in env


def test_a_recorded_proxy_wide_session_replaces_manual_vars_and_reset_clears_both(
    monkeypatch: pytest.MonkeyPatch, state: StatePaths
) -> None:
    monkeypatch.setenv("PHOENIX_SESSION_NAME", "manual")
    session = {"session_id": "debugging-20251101-143022-a3f2b1", "session_type": "debugging"}
    env = proxy_env(StackSettings(), key(state), session, os.environ, inherit_session_env=True)
    assert env["PHOENIX_SESSION_ID"] == session["session_id"]
    assert "PHOENIX_SESSION_NAME" not in env
    reset = proxy_env(StackSettings(), key(state), None, os.environ, inherit_session_env=False)
    assert not any(f.env in reset for f in fields.FIELDS)


def test_a_bad_manual_value_is_refused(monkeypatch: pytest.MonkeyPatch, state: StatePaths) -> None:
    monkeypatch.setenv("PHOENIX_SESSION_TYPE", "bad\nvalue")
    with pytest.raises(fields.InvalidSessionValue, match="PHOENIX_SESSION_TYPE"):
        proxy_env(StackSettings(), key(state), None, os.environ, inherit_session_env=True)


def test_client_side_variables_never_reach_the_proxy(
    monkeypatch: pytest.MonkeyPatch, state: StatePaths
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000")  # would make the proxy call itself
    monkeypatch.setenv("ANTHROPIC_CUSTOM_HEADERS", "x-session-tracking-type: mine")
    env = proxy_env(StackSettings(), key(state), None, os.environ, inherit_session_env=False)
    assert "ANTHROPIC_BASE_URL" not in env
    assert "ANTHROPIC_CUSTOM_HEADERS" not in env
    assert env["LITELLM_MASTER_KEY"].startswith("sk-")
    assert (state.master_key.stat().st_mode & 0o777) == 0o600
    assert env["ANTHROPIC_API_BASE"] == "https://api.anthropic.com"


def test_up_passes_the_price_file_to_the_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from claude_session.cli import main as cli

    seen: list[StackSettings] = []
    monkeypatch.setenv("CLAUDE_SESSION_STATE_DIR", str(tmp_path / "state"))

    def record(self: stack.LocalStack) -> StackSettings:
        seen.append(self.settings)
        return self.settings

    monkeypatch.setattr(stack.LocalStack, "up", record)
    prices = tmp_path / "prices.yaml"
    prices.write_text("claude-x:\n  input: 1\n  output: 2\n")
    assert cli.main(["up", "--offline", "--prices", str(prices)]) == 0
    assert seen[0].prices_file == str(prices.resolve())
