"""Session-scoped fixtures: one real Phoenix, one real patched proxy and the fake upstream per run.

They are started through the project's own stack code (what `claude-session up
--offline` runs) on free ports, with their own state directory, and stopped by PID
at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_session import procs, stack
from claude_session.phoenix_api import PhoenixClient
from claude_session.state import StatePaths, master_key
from tests.support import UNLISTED_MODEL, Stack, test_env


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir: Path = tmp_path_factory.mktemp("state")
    state = StatePaths(state_dir)
    prices = state_dir / "prices.yaml"
    prices.write_text(
        f"{UNLISTED_MODEL}:\n  input: 4.0\n  output: 20.0\n  cache_read: 0.4\n  cache_write: 5.0\n"
    )
    settings = stack.StackSettings(
        proxy_port=procs.free_port(),
        phoenix_port=procs.free_port(),
        phoenix_grpc_port=procs.free_port(),
        upstream_port=procs.free_port(),
        offline=True,
        project="tests",
        prices_file=str(prices),
    )
    saved = dict(os.environ)
    env = test_env(state_dir)
    os.environ.clear()
    os.environ.update(env)
    try:
        stack.up(settings, state)
        yield Stack(
            settings=settings,
            state=state,
            master_key=master_key(state, create=False) or "",
            phoenix=PhoenixClient(settings.phoenix_base),
            env=env,
        )
    finally:
        stack.down(state)
        os.environ.clear()
        os.environ.update(saved)
