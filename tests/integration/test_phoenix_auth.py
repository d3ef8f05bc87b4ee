"""An authenticated Phoenix (`up --phoenix-auth`): the key reaches the exporter and every reader,
a missing key is refused in one line, and the key is never on a span, a log line or an argv.

Its own stack (an authenticated Phoenix, the patched proxy, the fake upstream), plus a second
proxy with no key sending to the same Phoenix; everything is stopped by PID at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from claude_session.cli import main as cli
from claude_session.core import fields
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from tests import support
from tests.support import Stack, wait_for_spans

PROJECT = "auth-tests"
KEYED = {fields.SESSION_ID.key: "auth-keyed-20260101-000000-a1b2c3", fields.SESSION_TYPE.key: "testing"}
KEYLESS = {fields.SESSION_ID.key: "auth-keyless-20260101-000000-d4e5f6", fields.SESSION_TYPE.key: "testing"}


@dataclass
class AuthStacks:
    keyed: Stack  # the authenticated stack, its proxy holding the key
    keyless: Stack  # a second proxy (own state dir) exporting to the same Phoenix without a key
    api_key: str
    secrets: tuple[str, ...]  # the API key, Phoenix's secret and admin password


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthStacks]:
    state = StatePaths(tmp_path_factory.mktemp("auth-state"))
    env = support.test_env(state.root)
    env.pop("PHOENIX_API_KEY", None)
    settings = StackSettings.on_free_ports(offline=True, project=PROJECT, phoenix_auth=True)
    local = LocalStack(settings, state, env)
    other = StatePaths(tmp_path_factory.mktemp("keyless-state"))
    other_env = support.test_env(other.root)
    other_env.pop("PHOENIX_API_KEY", None)
    second: LocalStack | None = None
    try:
        settings = local.up()
        api_key = state.phoenix_api_key.read_text().strip()
        # The second proxy reuses the first stack's fake upstream and Phoenix (no price
        # registration: that would be refused without a key, which is the point here).
        other_settings = StackSettings.on_free_ports(
            offline=True,
            project=PROJECT,
            phoenix_url=settings.phoenix_base,
            upstream_port=settings.upstream_port,
        )
        second = LocalStack(other_settings, other, other_env)
        other.ensure()
        master_key(other)
        other_settings.record(other)
        second._start_proxy()
        secrets = (
            api_key,
            state.phoenix_secret.read_text().strip(),
            state.phoenix_admin_password.read_text().strip(),
        )

        def stack(s: StackSettings, st: StatePaths, e: dict[str, str], key: str | None) -> Stack:
            phoenix = PhoenixClient(settings.phoenix_base, api_key=key)
            return Stack(s, st, master_key(st, create=False) or "", phoenix, e)

        yield AuthStacks(
            stack(settings, state, env, api_key),
            stack(other_settings, other, other_env, api_key),
            api_key,
            secrets,
        )
    finally:
        if second is not None:
            second.down()
        local.down()


def test_secrets_are_owner_only_and_not_recorded(stacks: AuthStacks) -> None:
    state = stacks.keyed.state
    for path in (state.phoenix_api_key, state.phoenix_secret, state.phoenix_admin_password):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    recorded = json.loads(state.stack.read_text())
    assert recorded["phoenix_auth"] is True
    assert recorded["phoenix_api_key_file"] == str(state.phoenix_api_key)
    assert not any(secret in state.stack.read_text() for secret in stacks.secrets)


def test_reads_without_the_key_are_refused_in_one_line(stacks: AuthStacks) -> None:
    for key in (None, "not-the-key"):
        with pytest.raises(PhoenixError) as refused:
            PhoenixClient(stacks.keyed.settings.phoenix_base, api_key=key).project_id(PROJECT)
        assert "refused the read: missing or wrong API key" in str(refused.value)
        assert "\n" not in str(refused.value)


def test_an_export_with_the_key_arrives(stacks: AuthStacks) -> None:
    assert stacks.keyed.messages(KEYED).status_code == 200
    spans = wait_for_spans(stacks.keyed, {"session.id": KEYED["session_id"]}, 1)
    assert spans[0]["attributes"]["session.type"] == "testing"


def test_an_export_without_the_key_is_refused_and_logged_in_one_line(stacks: AuthStacks) -> None:
    assert stacks.keyless.messages(KEYLESS).status_code == 200  # the request itself is served
    log = stacks.keyless.state.log_file("proxy")
    deadline = time.monotonic() + 60
    refused: list[str] = []
    while not refused and time.monotonic() < deadline:
        refused = [line for line in log.read_text(errors="replace").splitlines() if "401" in line]
        time.sleep(1)
    assert refused, log.read_text(errors="replace")[-2000:]
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert any("export" in line.lower() for line in refused), refused
    time.sleep(3)
    assert not list(stacks.keyed.phoenix.spans(PROJECT, {"session.id": KEYLESS["session_id"]}))


def _report(state: Path, extra: dict[str, str] | None = None) -> tuple[int, str, str]:
    env = {**support.test_env(state), **(extra or {})}
    if not extra:
        env.pop("PHOENIX_API_KEY", None)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["report", "--group-by", "type", "--since", "1d"], env)
    return code, out.getvalue(), err.getvalue()


def test_report_reads_with_the_key_and_fails_in_one_line_without(stacks: AuthStacks) -> None:
    wait_for_spans(stacks.keyed, {"session.id": KEYED["session_id"]}, 1)
    code, out, err = _report(stacks.keyed.state.root)  # the recorded key file
    assert code == 0, err
    assert "testing" in out
    # The second state dir records the same Phoenix and no key file: the key comes from the env.
    code, out, err = _report(stacks.keyless.state.root, {"PHOENIX_API_KEY": stacks.api_key})
    assert code == 0, err
    for extra in (None, {"PHOENIX_API_KEY": "not-the-key"}):
        code, out, err = _report(stacks.keyless.state.root, extra)
        assert code == 1
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "refused the read: missing or wrong API key (set PHOENIX_API_KEY" in err


def _stack_processes(states: list[StatePaths]) -> list[psutil.Process]:
    found = []
    for state in states:
        for pid_file in state.root.glob("run/*.pid"):
            with contextlib.suppress(ValueError, psutil.Error):
                parent = psutil.Process(int(pid_file.read_text().split()[0]))
                found += [parent, *parent.children(recursive=True)]
    return found


def test_no_secret_in_spans_logs_or_argv(stacks: AuthStacks) -> None:
    states = [stacks.keyed.state, stacks.keyless.state]
    spans = list(stacks.keyed.phoenix.spans(PROJECT))
    assert spans
    dumped = json.dumps(spans)
    processes = _stack_processes(states)
    assert len(processes) >= 4  # Phoenix, the fake upstream, two proxies (and their workers)
    for secret in stacks.secrets:
        assert secret not in dumped
        for state in states:
            for log in state.root.glob("logs/*.log"):
                assert secret not in log.read_text(errors="replace"), log
        for process in processes:
            with contextlib.suppress(psutil.Error):
                assert secret not in " ".join(process.cmdline()), process.pid


def test_doctor_sends_the_key_and_names_a_refused_export(stacks: AuthStacks) -> None:
    from claude_session.cli import doctor
    from claude_session.core.errors import ClaudeSessionError

    settings = stacks.keyed.settings
    assert "HTTP 200" in doctor._otlp(settings, stacks.api_key)
    with pytest.raises(ClaudeSessionError, match="refused the export: missing or wrong API key"):
        doctor._otlp(settings, None)
    assert "session.id=" in doctor._last_span(settings, {}, stacks.api_key)
