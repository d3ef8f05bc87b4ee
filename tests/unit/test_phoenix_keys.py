"""Where a command finds Phoenix's API key, and what the client says when Phoenix refuses it."""

from __future__ import annotations

import io
import stat
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from claude_session.cli.main import main
from claude_session.phoenix import keys
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.stack.proxy_env import proxy_env
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths


def _key_file(tmp_path: Path, mode: int, text: str = "phx-key-123\n") -> Path:
    path = tmp_path / "key"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_key_comes_from_the_environment_when_no_file_is_recorded() -> None:
    assert keys.resolve_api_key({"PHOENIX_API_KEY": "from-env"}, None) == "from-env"
    assert keys.resolve_api_key({}, None) is None
    assert keys.resolve_api_key({"PHOENIX_API_KEY": ""}, None) is None


def test_a_recorded_owner_only_file_wins_over_the_environment(tmp_path: Path) -> None:
    for mode in (0o600, 0o400):
        path = _key_file(tmp_path, mode)
        assert keys.resolve_api_key({"PHOENIX_API_KEY": "from-env"}, str(path)) == "phx-key-123"
        path.chmod(0o600)
        path.unlink()
    settings = StackSettings(phoenix_api_key_file=str(_key_file(tmp_path, 0o600)))
    assert settings.phoenix_api_key({}) == "phx-key-123"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path, mode)
    with pytest.raises(PhoenixError) as refused:
        keys.resolve_api_key({}, str(path))
    assert refused.value.exit_code == 2
    assert f"mode {mode:04o}" in str(refused.value) and "chmod 600" in str(refused.value)
    assert "phx-key-123" not in str(refused.value)


def test_a_missing_or_empty_key_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PhoenixError, match="does not exist"):
        keys.resolve_api_key({}, str(tmp_path / "nope"))
    with pytest.raises(PhoenixError, match="is empty"):
        keys.resolve_api_key({}, str(_key_file(tmp_path, 0o600, "\n")))


def test_secrets_are_created_owner_only_and_valid_for_phoenix(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    value = keys.secret_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.secret_file(path) == value  # made once
    assert len(value) >= 32 and any(c.isdigit() for c in value) and any(c.islower() for c in value)


def test_the_proxy_gets_the_key_in_its_environment_only_when_given() -> None:
    env = proxy_env(StackSettings(), "sk-master", None, {}, inherit_session_env=False, phoenix_api_key="phx")
    assert env["PHOENIX_API_KEY"] == "phx"
    assert "PHOENIX_API_KEY" not in proxy_env(
        StackSettings(), "sk-master", None, {}, inherit_session_env=False
    )


@pytest.mark.parametrize("code", [401, 403])
def test_the_client_names_a_refused_read_or_write(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    sent: list[urllib.request.Request] = []

    def refuse(request: urllib.request.Request, timeout: float) -> Any:
        sent.append(request)
        raise urllib.error.HTTPError(request.full_url, code, "Unauthorized", Message(), io.BytesIO(b"{}"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    client = PhoenixClient("http://phoenix.test", api_key="phx-secret")
    with pytest.raises(PhoenixError) as read:
        client.project_id("p")
    assert str(read.value) == (
        "Phoenix at http://phoenix.test refused the read: missing or wrong API key "
        "(set PHOENIX_API_KEY or `claude-session up --phoenix-api-key-file FILE`)"
    )
    assert sent[0].get_header("Authorization") == "Bearer phx-secret"
    with pytest.raises(PhoenixError, match="refused the write"):
        client.graphql("mutation { x }")
    assert "phx-secret" not in str(read.value)


def test_up_refuses_conflicting_key_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"CLAUDE_SESSION_STATE_DIR": str(tmp_path)}
    assert main(["up", "--phoenix-auth", "--phoenix-url", "http://x"], env) == 2
    assert main(["up", "--phoenix-api-key-file", str(tmp_path / "k")], env) == 2
    err = capsys.readouterr().err
    assert "--phoenix-auth starts a local Phoenix" in err
    assert "--phoenix-api-key-file goes with --phoenix-url" in err


def test_stack_json_records_where_the_key_is_not_the_key(tmp_path: Path) -> None:
    state = StatePaths(tmp_path)
    StackSettings(phoenix_auth=True, phoenix_api_key_file=str(state.phoenix_api_key)).record(state)
    recorded = StackSettings.recorded(state)
    assert recorded is not None and recorded.phoenix_api_key_file == str(state.phoenix_api_key)
