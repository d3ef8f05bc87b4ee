"""The report suite (test_report.py) once more, with Phoenix on a private PostgreSQL cluster.

The same test functions and module fixtures, imported; only `live_stack` differs: here it
is the session's `postgres_stack` (`up --postgres`), so each figure is checked against what
Phoenix computes on PostgreSQL too.
"""

from __future__ import annotations

import pytest

from tests.integration.test_report import *  # noqa: F403 - the suite itself, run again
from tests.integration.test_report import _the_test_stacks_environment  # noqa: F401 - autouse
from tests.support import Stack

# Scheduled first (tests/conftest.py): about 45 s on this machine.
pytestmark = pytest.mark.long(seconds=45)


@pytest.fixture(scope="module")
def live_stack(postgres_stack: Stack) -> Stack:
    return postgres_stack


def test_this_run_is_on_the_private_cluster(live_stack: Stack) -> None:
    assert live_stack.settings.database == "postgres"
    assert (live_stack.state.root / "postgres" / "data" / "PG_VERSION").exists()
