"""Session-scoped fixtures: one real Phoenix, one real patched proxy and the fake upstream per run.

They are started through the project's own stack code (what `claude-session up
--offline` runs) on free ports, with their own state directory, and stopped by PID
at the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import UNLISTED_MODEL, Stack, running_stack


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir: Path = tmp_path_factory.mktemp("state")
    prices = state_dir / "prices.yaml"
    prices.write_text(
        f"{UNLISTED_MODEL}:\n  input: 4.0\n  output: 20.0\n  cache_read: 0.4\n  cache_write: 5.0\n"
    )
    with running_stack(state_dir, "tests", prices_file=str(prices)) as running:
        yield running
