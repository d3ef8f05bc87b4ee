"""Settings resolved once from flags and environment, recorded, and the stack chosen from the record."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from claude_session.stack import new_stack, open_stack
from claude_session.stack.compose import ComposeStack
from claude_session.stack.errors import StackError
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import ANTHROPIC_API, SCHEMA, StackSettings
from claude_session.stack.state import StatePaths, read_json, write_json

PACKAGE = Path(__file__).resolve().parents[2] / "claude_session"


def test_the_upstream_is_resolved_once_and_recorded(tmp_path: Path) -> None:
    state = StatePaths(tmp_path)
    state.ensure()
    chosen = StackSettings.from_env({"CLAUDE_SESSION_ANTHROPIC_URL": "http://127.0.0.1:9999/gw"})
    assert chosen.upstream_url == "http://127.0.0.1:9999/gw"
    chosen.record(state)
    # A later command run from a shell without the variable still sees the recorded upstream.
    stack = open_stack(state, environ={})
    assert stack is not None
    assert stack.settings.upstream_url == "http://127.0.0.1:9999/gw"
    assert StackSettings.from_env({}).upstream_url == ANTHROPIC_API


def test_environment_overrides_and_bad_numbers(tmp_path: Path) -> None:
    settings = StackSettings.from_env(
        {"CLAUDE_SESSION_PROXY_PORT": "4100", "CLAUDE_SESSION_OFFLINE": "yes", "PHOENIX_PROJECT_NAME": "team"}
    )
    assert (settings.proxy_port, settings.offline, settings.project) == (4100, True, "team")
    assert settings.upstream_url == f"http://127.0.0.1:{settings.upstream_port}"
    with pytest.raises(StackError) as caught:
        StackSettings.from_env({"CLAUDE_SESSION_PHOENIX_PORT": "70000"})
    assert caught.value.exit_code == 2
    assert str(caught.value) == "CLAUDE_SESSION_PHOENIX_PORT must be a number between 1 and 65535"


def test_the_recorded_settings_choose_the_implementation(tmp_path: Path) -> None:
    state = StatePaths(tmp_path)
    state.ensure()
    assert open_stack(state, {}) is None
    StackSettings(docker=True).record(state)
    assert isinstance(open_stack(state, {}), ComposeStack)
    StackSettings().record(state)
    assert isinstance(open_stack(state, {}), LocalStack)
    assert isinstance(new_stack(StackSettings(docker=True), state, {}), ComposeStack)


def test_only_the_edges_read_the_process_environment() -> None:
    """`os.environ` appears only in the command line's context and the proxy's settings module
    (LiteLLM config references such as "os.environ/LITELLM_MASTER_KEY" are strings, not reads)."""
    readers = set()
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r"\bos\.environ\b(?!/)", line) and not line.lstrip().startswith(("#", '"', "`")):
                readers.add(path.relative_to(PACKAGE).as_posix())
    assert readers <= {"cli/context.py", "proxy/settings.py"}, readers


def test_concurrent_json_writers_never_fail_and_leave_one_whole_file(tmp_path: Path) -> None:
    """Launchers started together (the demo runs three at a time) all record the last session."""
    target = tmp_path / "last_session.json"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                write_json(target, {"writer": n, "i": i})
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert read_json(target) in [{"writer": n, "i": 199} for n in range(8)]
    assert [p.name for p in tmp_path.iterdir()] == ["last_session.json"]  # no temporary left


def test_stack_json_carries_its_schema_and_another_schema_is_one_clear_error(tmp_path: Path) -> None:
    state = StatePaths(tmp_path)
    state.root.mkdir(parents=True, exist_ok=True)
    settings = StackSettings(project="schema-test")
    settings.record(state)
    written = json.loads(state.stack.read_text())
    assert written["schema"] == SCHEMA
    assert StackSettings.recorded(state) == settings
    del written["schema"]  # what versions before the schema wrote: the same layout
    state.stack.write_text(json.dumps(written))
    assert StackSettings.recorded(state) == settings
    state.stack.write_text(json.dumps({**written, "schema": SCHEMA + 1}))
    with pytest.raises(StackError) as refused:
        StackSettings.recorded(state)
    message = str(refused.value)
    assert "\n" not in message and str(state.stack) in message and f"schema {SCHEMA + 1}" in message
