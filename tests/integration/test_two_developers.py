"""Several developers, one Phoenix: two developers' proxies export to one shared Phoenix.

The shared Phoenix is the team's: authenticated (`up --phoenix-auth`) and on PostgreSQL
(`up --postgres`), started once. Each developer has a proxy of their own, with their own state
directory and ports (`up --phoenix-url URL --phoenix-api-key-file FILE`), and sends requests
tagged with their own user (`x-session-tracking-user`, as the launcher does). Both send at once;
no span of one carries the other's session or user, and `report --group-by user`, run with the
key, counts each developer's sessions and requests. Everything is stopped by PID at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claude_session.cli import main as cli
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.keys import write_secret
from claude_session.session.launcher import Session
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from tests import support
from tests.support import Stack, wait_for_spans

PROJECT = "team-tests"
REQUESTS_PER_SESSION = 5  # two sessions each: ten requests per developer
USERS = ("alice@example.com", "bob.smith+dev@example.org")


@dataclass
class Developer:
    user: str
    stack: Stack
    sessions: list[dict[str, str]]  # what each session's requests carry (the user included)


@dataclass
class Team:
    phoenix: PhoenixClient  # the shared Phoenix, read with the key
    developers: tuple[Developer, Developer]


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    shared_state = StatePaths(tmp_path_factory.mktemp("team-phoenix"))
    shared_env = support.test_env(shared_state.root)
    shared_env.pop("PHOENIX_API_KEY", None)
    shared = LocalStack(
        StackSettings.on_free_ports(offline=True, project=PROJECT, phoenix_auth=True, database="postgres"),
        shared_state,
        shared_env,
    )
    locals_started: list[LocalStack] = []
    try:
        settings = shared.up()
        api_key = shared_state.phoenix_api_key.read_text().strip()
        developers = []
        for index, user in enumerate(USERS):
            state = StatePaths(tmp_path_factory.mktemp(f"developer-{index}"))
            env = support.test_env(state.root)
            env.pop("PHOENIX_API_KEY", None)
            # The key handed to the developer, kept 0600 in a file of their own (never in argv).
            state.ensure()
            key_file = state.root / "team-phoenix.key"
            write_secret(key_file, api_key)
            local = LocalStack(
                StackSettings.on_free_ports(
                    offline=True,
                    project=PROJECT,
                    phoenix_url=settings.phoenix_base,
                    phoenix_api_key_file=str(key_file),
                ),
                state,
                env,
            )
            locals_started.append(local)
            mine = local.up()
            sessions = [
                Session.new("team-check", f"v{n}", None, user=user).request_metadata() for n in (1, 2)
            ]
            stack = Stack(
                mine,
                state,
                master_key(state, create=False) or "",
                PhoenixClient(settings.phoenix_base, api_key=api_key),
                env,
            )
            developers.append(Developer(user, stack, sessions))
        yield Team(PhoenixClient(settings.phoenix_base, api_key=api_key), (developers[0], developers[1]))
    finally:
        for local in reversed(locals_started):
            local.down()
        shared.down()


def _send_all(developer: Developer, session: dict[str, str]) -> list[int]:
    return [
        developer.stack.messages(session, stream=n % 2 == 1).status_code for n in range(REQUESTS_PER_SESSION)
    ]


def test_two_developers_export_concurrently_without_colliding(team: Team) -> None:
    jobs = [(developer, session) for developer in team.developers for session in developer.sessions]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        codes = list(pool.map(lambda job: _send_all(*job), jobs))
    assert all(code == 200 for batch in codes for code in batch), codes

    for developer in team.developers:
        for session in developer.sessions:
            spans = wait_for_spans(
                developer.stack, {"session.id": session["session_id"]}, REQUESTS_PER_SESSION
            )
            assert len(spans) == REQUESTS_PER_SESSION

    mine = {
        developer.user: {session["session_id"] for session in developer.sessions}
        for developer in team.developers
    }
    everything = [span for span in team.phoenix.spans(PROJECT) if "session.id" in span["attributes"]]
    seen_users: dict[str, int] = {}
    for span in everything:
        attributes = span["attributes"]
        user = attributes.get("session.user")
        assert user in mine, (span["name"], attributes.get("session.id"), user)
        assert attributes["session.id"] in mine[user], (user, attributes["session.id"])
        seen_users[user] = seen_users.get(user, 0) + (span["name"] == support.LLM_SPAN)
    # Every request's LLM span (and its root, which the Traces tab filters on) names its developer.
    assert seen_users == {user: 2 * REQUESTS_PER_SESSION for user in USERS}
    roots = [
        span
        for span in everything
        if span["name"] != support.LLM_SPAN and span["attributes"].get("session.user")
    ]
    assert roots, "the root spans carry session.user too"


def _report(developer: Developer, *args: str) -> list[dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            ["report", *args, "--since", "1d", "--format", "json", "--no-phoenix-check"], developer.stack.env
        )
    assert code == 0, err.getvalue()
    assert "Traceback" not in err.getvalue()
    groups: list[dict[str, Any]] = json.loads(out.getvalue())["groups"]
    return groups


def test_report_counts_each_developers_sessions(team: Team) -> None:
    first, second = team.developers
    for developer in team.developers:
        for session in developer.sessions:
            wait_for_spans(developer.stack, {"session.id": session["session_id"]}, REQUESTS_PER_SESSION)
    # Read with the key recorded by `up --phoenix-api-key-file`: each developer sees the team's spans.
    groups = {group["key"]: group for group in _report(first, "--group-by", "user", "--type", "team-check")}
    assert set(groups) == set(USERS), groups
    for user in USERS:
        assert groups[user]["sessions"] == 2
        assert groups[user]["requests"] == 2 * REQUESTS_PER_SESSION
        assert f"session.user == '{user}'" in groups[user]["span_filter"]
    only_bob = _report(second, "--user", USERS[1], "--type", "team-check")
    assert {group["key"] for group in only_bob} == {"v1", "v2"}
    assert all(group["requests"] == REQUESTS_PER_SESSION for group in only_bob)


def test_the_key_reached_no_argv(team: Team) -> None:
    key = team.phoenix.api_key
    assert key
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                assert key.encode() not in (entry / "cmdline").read_bytes(), entry.name
    assert os.environ.get("PHOENIX_API_KEY") != key
