"""A Phoenix whose database was wiped (same URL, same project name, all new data) is detected by
the report cache, which rebuilds with one line and gives the uncached report.

Its own Phoenix (SQLite), started as `up` starts it, stopped by PID, its working directory
removed, started again on the same port: what a user sees after `down` and deleting Phoenix's
data, or a fresh server behind the same URL.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from bench.services import start_phoenix
from claude_session.cli import main as cli
from claude_session.phoenix.client import PhoenixClient
from claude_session.stack import procs
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths
from tests.integration.test_report_cache import Project, _phoenix_figures, specs
from tests.support import Stack
from tests.support import test_env as stack_environment

PROJECT = "wiped-project"


def _report(state: StatePaths, url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[str, str]:
    env = {**stack_environment(state.root)}
    capsys.readouterr()  # what starting Phoenix printed is not the report's
    code = cli.main(["report", "--phoenix-url", url, "--project", PROJECT, "--format", "json", *extra], env)
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    data.pop("timing")
    _phoenix_figures(data)  # Phoenix's own cross-check, asked of Phoenix either way
    return json.dumps(data, sort_keys=True), err


def test_a_wiped_phoenix_is_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = StatePaths(tmp_path / "state")
    settings = StackSettings.on_free_ports(offline=True, project=PROJECT)
    environ = stack_environment(state.root)
    client = PhoenixClient(settings.phoenix_base)
    stack = Stack(settings=settings, state=state, master_key="", phoenix=client, env=environ)
    try:
        start_phoenix(settings, state, environ)
        Project(PROJECT, stack).send(specs(150, 3, seed=31, tag="before", days=5, end_ns=time.time_ns()))
        cached, err = _report(state, settings.phoenix_base, capsys)
        assert json.loads(cached)["requests"] == 150 and "reading 150 spans" in err
        procs.stop(state.pid_file("phoenix"))
        shutil.rmtree(state.phoenix_dir)  # the wipe
        start_phoenix(settings, state, environ)
        Project(PROJECT, stack).send(specs(70, 2, seed=32, tag="after", days=5, end_ns=time.time_ns()))
        cached, err = _report(state, settings.phoenix_base, capsys)
        direct, _ = _report(state, settings.phoenix_base, capsys, "--no-cache")
    finally:
        procs.stop(state.pid_file("phoenix"))
    assert cached == direct and json.loads(cached)["requests"] == 70
    assert err.splitlines()[0] == (
        "report cache: Phoenix's database was wiped or replaced since the cache was filled: "
        "rebuilding it from Phoenix"
    )
