"""Phoenix on a private PostgreSQL cluster (`up --postgres`): spans arrive, the report works,
`down` stops the cluster by PID, its data survives the next `up`, and its password shows up
in no argv, log, stack.json or printed output.

The span and report suites run against PostgreSQL too (test_*_on_postgres.py); this file
checks what only the private cluster does, on its own stack.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from claude_session.phoenix.client import PhoenixClient
from claude_session.session import launcher
from claude_session.stack import postgres, procs
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from tests import support
from tests.support import Stack, wait_for_spans


def _cmdlines() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return found


def _stack(local: LocalStack, env: dict[str, str]) -> Stack:
    return Stack(
        settings=local.settings,
        state=local.state,
        master_key=master_key(local.state, create=False) or "",
        phoenix=PhoenixClient(local.settings.phoenix_base),
        env=env,
    )


def test_private_cluster_keeps_spans_across_down_and_up(tmp_path: Path) -> None:
    state = StatePaths(tmp_path / "state")
    env = support.test_env(state.root)
    settings = StackSettings.on_free_ports(offline=True, project="pg-tests", database="postgres")
    local = LocalStack(settings, state, env)
    try:
        local.up()
        stack = _stack(local, env)
        pid = procs.read_pid(state.pid_file("postgres"))
        assert pid is not None
        password = (state.root / "postgres" / "password").read_text().strip()
        assert len(password) >= 32
        for secret in (state.root / "postgres" / "password", postgres.url_file(state)):
            assert secret.stat().st_mode & 0o777 == 0o600, secret

        # Spans arrive, and the report reads them back.
        session = launcher.Session.new("pg-check", "v1", None).as_metadata()
        assert stack.messages(session).status_code == 200
        assert stack.messages(session, stream=True).status_code == 200
        wait_for_spans(stack, {"session.id": session["session_id"]}, 2)
        report = stack.launcher("report", "--type", "pg-check", "--format", "json")
        assert report.returncode == 0, report.stderr
        (group,) = json.loads(report.stdout)["groups"]
        assert group["requests"] == 2
        status = stack.launcher("status")
        assert "postgres" in status.stdout and "up" in status.stdout

        # The password: in no process's argv, no log, not in stack.json nor printed output.
        assert not [line for line in _cmdlines() if password in line]
        recorded = state.stack.read_text()
        assert json.loads(recorded)["database"] == "postgres"
        for text in (recorded, report.stdout, report.stderr, status.stdout, status.stderr):
            assert password not in text
        for log in state.root.glob("logs/*.log"):
            assert password not in log.read_text(errors="replace"), log.name

        # `down` stops the cluster by PID: no server of this cluster is left.
        assert "postgres" in local.down()
        assert not procs.is_running(pid)
        assert not [line for line in _cmdlines() if str(state.root / "postgres") in line]

        # The next `up` finds the same data: the session's spans are still there.
        local = LocalStack(
            StackSettings.on_free_ports(offline=True, project="pg-tests", database="postgres"), state, env
        )
        local.up()
        stack = _stack(local, env)
        spans = wait_for_spans(stack, {"session.id": session["session_id"]}, 2, timeout=10)
        assert len(spans) == 2
    finally:
        local.down()
    assert procs.read_pid(state.pid_file("postgres")) is None


def test_existing_server_url_is_kept_0600_and_recorded_redacted(tmp_path: Path) -> None:
    """`up --database URL`: the URL (password included) only in the state directory's 0600 file."""
    from claude_session.cli.context import Context
    from claude_session.cli.main import _with_database

    secret = "s3cret-" + os.urandom(8).hex()
    ctx = Context.from_environ({**support.test_env(tmp_path), "PGPASSWORD": secret})
    settings = _with_database(StackSettings(), False, "postgresql://phoenix@db.example:5432/phoenix", 0, ctx)
    assert settings.database == "postgresql://phoenix:***@db.example:5432/phoenix"
    stored = postgres.url_file(ctx.state)
    assert stored.read_text().strip() == f"postgresql://phoenix:{secret}@db.example:5432/phoenix"
    assert stored.stat().st_mode & 0o777 == 0o600
    settings.record(ctx.state)
    assert secret not in ctx.state.stack.read_text()


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://u:p%40ss@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("postgresql://h/d", "postgresql://h/d"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert postgres.redact_url(url) == redacted
