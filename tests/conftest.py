"""Test tiers and the session-scoped stack.

Tiers follow the folders: tests/unit is the fast tier (pure and in-process; a unit test
that must start a process is marked `slow` itself); tests/integration, tests/e2e,
tests/faults and tests/docker are marked with their tier and `slow`. Developers run
`pytest -m "not slow"` constantly; `.ci/run` runs everything.

The live stack (one real Phoenix, one real patched proxy and the fake upstream per run)
is started through the project's own stack code (what `claude-session up --offline`
runs) on free ports, with its own state directory, and stopped by PID at the end.
With CLAUDE_SESSION_TEST_DATABASE=postgres its Phoenix keeps its data in a private
PostgreSQL cluster (`up --postgres`) instead of SQLite. `postgres_stack` is such a stack
whatever that variable says: the span and report suites run on it a second time
(tests/integration/test_*_on_postgres.py), in the same pytest run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import UNLISTED_MODEL, Stack, running_stack

TESTS = Path(__file__).resolve().parent
SLOW_TIERS = ("integration", "e2e", "faults", "docker")

# The order the test processes take files in (scripts/test: `--dist loadfile`, with xdist's
# own reordering by test count turned off): the longest first, so that no process is left
# running a two-minute file alone at the end; then the tiers, the quick unit tests last to
# fill the gaps. A scheduling hint only: a file missing here still runs, in its tier.
LONGEST_FIRST = (
    "docker/test_image.py",  # builds the proxy image (the other docker files wait for it)
    "faults/test_spool.py",
    "docker/test_compose.py",
    "faults/test_bench_smoke.py",
    "faults/test_phoenix_outage.py",
    "integration/test_session_spans_on_postgres.py",
    "integration/test_report_on_postgres.py",
    "e2e/test_demo.py",
    "e2e/test_experiment.py",
    "e2e/test_experiment_verdict.py",
    "faults/test_gateway_conformance.py",
    "integration/test_two_developers.py",
    "integration/test_postgres.py",
    "integration/test_phoenix_auth.py",
    "docker/test_build.py",
)
TIER_ORDER = ("docker", "faults", "e2e", "integration", "unit")
# Files that share a session stack other than `live_stack` go to one process, which then
# starts that stack once instead of once per process.
SHARED_SCOPES = {
    "integration/test_session_spans_on_postgres.py": "postgres_stack",
    "integration/test_report_on_postgres.py": "postgres_stack",
    "integration/test_report_cache_on_postgres.py": "postgres_stack",
}


def _relative(item: pytest.Item) -> str:
    """The item's file under tests/, as "tier/test_x.py" ("" outside tests/)."""
    return item.path.relative_to(TESTS).as_posix() if item.path.is_relative_to(TESTS) else ""


def _place(item: pytest.Item) -> tuple[int, int]:
    relative = _relative(item)
    if relative in LONGEST_FIRST:
        return 0, LONGEST_FIRST.index(relative)
    tier = relative.split("/", 1)[0]
    return 1, TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = _relative(item).split("/", 1)[0]
        if tier in SLOW_TIERS:
            item.add_marker(getattr(pytest.mark, tier))
            item.add_marker(pytest.mark.slow)
    items.sort(key=_place)  # stable: a file's tests stay together and in their order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole files per process (as `--dist loadfile`), in collection order, with the files of
    SHARED_SCOPES kept together."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SuiteScheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_SCOPES.get(path.removeprefix("tests/"), path)

    config.option.loadscopereorder = False
    return SuiteScheduling(config, log)


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = os.environ.get("CLAUDE_SESSION_TEST_DATABASE") or None
    if database not in (None, "sqlite", "postgres"):
        raise pytest.UsageError("CLAUDE_SESSION_TEST_DATABASE is sqlite or postgres")
    with _priced_stack(tmp_path_factory, postgres=database == "postgres") as running:
        yield running


@pytest.fixture(scope="session")
def postgres_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A live stack whose Phoenix keeps its data in a private PostgreSQL cluster."""
    with _priced_stack(tmp_path_factory, postgres=True) as running:
        yield running


@contextmanager
def _priced_stack(tmp_path_factory: pytest.TempPathFactory, postgres: bool) -> Iterator[Stack]:
    state_dir: Path = tmp_path_factory.mktemp("state")
    prices = state_dir / "prices.yaml"
    prices.write_text(
        f"{UNLISTED_MODEL}:\n  input: 4.0\n  output: 20.0\n  cache_read: 0.4\n  cache_write: 5.0\n"
    )
    overrides = {"database": "postgres"} if postgres else {}
    with running_stack(state_dir, "tests", prices_file=str(prices), **overrides) as running:
        yield running
