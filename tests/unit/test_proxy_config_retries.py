"""The generated proxy config makes one upstream attempt per client request unless the operator
sets CLAUDE_SESSION_PROXY_RETRIES; a bad value is one usage line, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from claude_session.core.errors import UsageError
from claude_session.proxy import config
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths


def _router(text: str) -> dict[str, object]:
    settings: dict[str, object] = yaml.safe_load(text)["router_settings"]
    return settings


def test_by_default_the_proxy_does_not_retry_nor_cool_down() -> None:
    assert _router(config.render("http://upstream", False)) == {"num_retries": 0, "disable_cooldowns": True}
    assert config.retries_from({}) == 0
    assert config.retries_from({config.RETRIES_ENV: " "}) == 0


def test_an_operator_turns_retries_back_on(tmp_path: Path) -> None:
    assert config.retries_from({config.RETRIES_ENV: "2"}) == 2
    out = tmp_path / "litellm.yaml"
    # docker/entrypoint.sh passes CLAUDE_SESSION_PROXY_RETRIES this way.
    assert config.main(["--upstream", "http://u", "--output", str(out), "--num-retries", "2"]) == 0
    assert _router(out.read_text())["num_retries"] == 2


@pytest.mark.parametrize("value", ["-1", "two", "11", "1.5"])
def test_a_bad_retry_count_is_a_usage_error(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError) as excinfo:
        config.retries_from({config.RETRIES_ENV: value})
    assert excinfo.value.exit_code == 2
    out = tmp_path / "litellm.yaml"
    assert config.main(["--upstream", "http://u", "--output", str(out), "--num-retries", value]) == 2
    assert capsys.readouterr().err == (
        f"claude_session.proxy.config: {config.RETRIES_ENV}={value!r}: use a whole number from 0 to 10\n"
    )
    assert not out.exists()


def test_up_refuses_a_bad_retry_count_before_starting_anything(tmp_path: Path) -> None:
    state = StatePaths(tmp_path)
    stack = LocalStack(StackSettings(offline=True), state, {config.RETRIES_ENV: "many"})
    with pytest.raises(UsageError, match="use a whole number from 0 to 10"):
        stack.up()
    assert [name for name in ("upstream", "phoenix", "proxy") if procs.read_pid(state.pid_file(name))] == []
