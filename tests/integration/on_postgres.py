"""What makes a suite's twin run on PostgreSQL: import these two next to the suite's tests.

`live_stack` becomes the session's `postgres_stack` (`up --postgres`) for the importing module
only, and one more test checks that it really is the private cluster.
"""

from __future__ import annotations

import pytest

from tests.support import Stack


@pytest.fixture(scope="module", name="live_stack")
def live_stack_on_postgres(postgres_stack: Stack) -> Stack:
    return postgres_stack


def test_this_run_is_on_the_private_cluster(live_stack: Stack) -> None:
    assert live_stack.settings.database == "postgres"
    assert (live_stack.state.root / "postgres" / "data" / "PG_VERSION").exists()
