"""One proxy-wide session id per proxy, whatever the number of workers (issue 10, item 5).

The guide's way for CI: PHOENIX_SESSION_TYPE exported before the proxy starts, no id.
The id is made once by the stack before the workers start, so every worker tags alike.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from claude_session.proxy.proxy_wide import PROXY_SESSION_ROUTE
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from claude_session.stack.proxy_env import OFFLINE_UPSTREAM_KEY
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from tests.support import LLM_SPAN, Stack, wait_for_spans

REQUESTS = 20
# The kernel picks the worker for each new connection: on a busy machine one worker can take
# twenty in a row (CI saw it), so the check asks in concurrent rounds until both have answered.
ROUNDS, PER_ROUND = 50, 8


@pytest.fixture(scope="module")
def two_worker_proxy(live_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = StatePaths(tmp_path_factory.mktemp("proxy-wide-state"))
    settings = StackSettings(
        proxy_port=procs.free_port(),
        anthropic_url=live_stack.settings.upstream_url,  # the running fake upstream, as a gateway
        phoenix_url=live_stack.settings.phoenix_base,  # external: only the proxy starts
        project=live_stack.project,
        workers=2,
    )
    run_type = f"ci-{uuid.uuid4().hex[:8]}"
    environ = {**live_stack.env, "PHOENIX_SESSION_TYPE": run_type, "ANTHROPIC_API_KEY": OFFLINE_UPSTREAM_KEY}
    stack = LocalStack(settings, state, environ)
    try:
        stack.up()
        yield Stack(settings, state, master_key(state, create=False) or "", live_stack.phoenix, environ)
    finally:
        stack.down()


def test_twenty_untagged_requests_on_two_workers_carry_one_session_id(two_worker_proxy: Stack) -> None:
    run_type = two_worker_proxy.env["PHOENIX_SESSION_TYPE"]
    for _ in range(REQUESTS):  # a new connection each time, so both workers serve some
        response = two_worker_proxy.messages(None)
        assert response.status_code == 200, response.text
    spans = wait_for_spans(two_worker_proxy, {"session.type": run_type}, REQUESTS, name=LLM_SPAN)
    ids = {span["attributes"]["session.id"] for span in spans}
    assert len(spans) == REQUESTS
    assert len(ids) == 1, ids
    (session_id,) = ids
    assert session_id.startswith(f"{run_type}-")
    workers = procs.read_pid(two_worker_proxy.state.pid_file("proxy"))
    assert workers is not None and os.getpgid(workers) > 0


def test_a_proxy_wide_switch_reaches_every_worker_at_once(two_worker_proxy: Stack) -> None:
    """Set on the running 2-worker proxy (no restart): each worker applies it from its next request."""
    key = {"x-litellm-api-key": two_worker_proxy.master_key}
    url = two_worker_proxy.proxy_url + PROXY_SESSION_ROUTE
    session = {
        "session_id": f"switch-{uuid.uuid4().hex[:8]}",
        "session_type": "switch",
        "prompt_version": "v3",
    }
    assert httpx.put(url, headers=key, json=session).status_code == 200
    try:
        for _ in range(REQUESTS):
            assert two_worker_proxy.messages(None).status_code == 200
        assert _workers_answering(url, key, session) == 2
        spans = wait_for_spans(
            two_worker_proxy, {"session.id": session["session_id"]}, REQUESTS, name=LLM_SPAN
        )
        assert {s["attributes"]["session.prompt_version"] for s in spans} == {"v3"}
    finally:
        assert httpx.delete(url, headers=key).status_code == 200


def _workers_answering(url: str, key: dict[str, str], session: dict[str, str]) -> int:
    """How many workers answered with `session`, asking until two have or ROUNDS are spent."""
    workers: set[int] = set()
    with ThreadPoolExecutor(PER_ROUND) as pool:
        for _ in range(ROUNDS):
            answers = list(pool.map(lambda _: httpx.get(url, headers=key).json(), range(PER_ROUND)))
            assert all(answer["session"] == session for answer in answers), answers
            workers.update(answer["worker"] for answer in answers)
            if len(workers) == 2:
                break
    return len(workers)
