"""Proxy-wide sessions switched on the running proxy: no restart, no request cut, every worker,
the master key required, kept across a proxy restart until --reset; and an idempotent `up`."""

from __future__ import annotations

import json
import uuid

import httpx

from claude_session.core import fields
from claude_session.proxy.proxy_wide import PROXY_SESSION_ROUTE
from claude_session.session import launcher
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from tests.support import LLM_SPAN, Stack, wait_for_spans

REQUESTS = 20


def _endpoint(stack: Stack, method: str, body: object = None, key: str | None = None) -> httpx.Response:
    headers = {"x-litellm-api-key": stack.master_key if key is None else key}
    content = json.dumps(body) if body is not None else None
    return httpx.request(method, stack.proxy_url + PROXY_SESSION_ROUTE, headers=headers, content=content)


def test_switching_while_a_streamed_request_is_in_flight(live_stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    session = launcher.Session.new(f"switch-{run}", "v7", None).as_metadata()
    pid_before = procs.read_pid(live_stack.state.pid_file("proxy"))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True, "messages": []}
    # The fake holds the reply after its first delta: the proxy ends (and logs) it after the switch.
    body["messages"] = [{"role": "user", "content": "in flight [[fault:pause]]"}]
    # Untagged, as Claude Code without the launcher: only its own session id, to find its span.
    claude_code_id = str(uuid.uuid4())
    headers = {**live_stack.auth(), "anthropic-version": "2023-06-01"}
    headers[fields.CLAUDE_CODE_HEADER] = claude_code_id
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", live_stack.proxy_url + "/v1/messages", headers=headers, json=body) as streamed,
    ):
        chunks = streamed.iter_text()
        first = next(chunks)
        assert streamed.status_code == 200 and first
        result = live_stack.launcher(
            "-t", session["session_type"], "-v", "v7", "--id", session["session_id"], "--proxy-wide"
        )
        assert result.returncode == 0, result.stderr
        rest = "".join(chunks)
    assert "message_stop" in first + rest  # the request in flight completed
    assert procs.read_pid(live_stack.state.pid_file("proxy")) == pid_before  # no restart

    for _ in range(REQUESTS):  # every worker: see test_proxy_wide_id.py (a 2-worker proxy)
        assert _endpoint(live_stack, "GET").json()["session"] == session
        assert live_stack.messages(prompt="untagged after switch").status_code == 200
    spans = wait_for_spans(live_stack, {"session.id": session["session_id"]}, REQUESTS, name=LLM_SPAN)
    assert {s["attributes"]["session.prompt_version"] for s in spans} == {"v7"}
    # The request in flight keeps the session it was sent in (none): it is logged when its
    # reply ends, after the switch, but the proxy-wide session was read when it arrived.
    by_claude_code_id = {fields.CLAUDE_CODE_ATTRIBUTE: claude_code_id}
    (in_flight,) = wait_for_spans(live_stack, by_claude_code_id, 1, name=LLM_SPAN)
    assert in_flight["attributes"]["session.id"] == claude_code_id
    assert len(spans) == REQUESTS

    reset = live_stack.launcher("--reset")
    assert reset.returncode == 0, reset.stderr
    assert _endpoint(live_stack, "GET").json()["session"] is None


def test_setting_it_without_the_master_key_is_refused(live_stack: Stack) -> None:
    session = launcher.Session.new("no-key", "v1", None).as_metadata()
    assert _endpoint(live_stack, "PUT", session, key="sk-not-the-key").status_code == 401
    assert _endpoint(live_stack, "PUT", session, key="").status_code == 401
    assert _endpoint(live_stack, "GET").json()["session"] is None


def test_a_proxy_restart_keeps_it_until_reset(live_stack: Stack) -> None:
    session = launcher.Session.new(f"kept-{uuid.uuid4().hex[:6]}", "v2", "kept").as_metadata()
    assert _endpoint(live_stack, "PUT", session).status_code == 200
    try:
        LocalStack(live_stack.settings, live_stack.state, live_stack.env).restart_proxy()
        assert _endpoint(live_stack, "GET").json()["session"] == session
        assert live_stack.messages(prompt="after restart").status_code == 200
        (span,) = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 1, name=LLM_SPAN)
        assert span["attributes"]["session.name"] == "kept"
    finally:
        assert live_stack.launcher("--reset").returncode == 0


def test_up_when_everything_runs_starts_nothing_and_says_so(live_stack: Stack) -> None:
    pids = {n: procs.read_pid(live_stack.state.pid_file(n)) for n in ("proxy", "phoenix", "upstream")}
    result = live_stack.launcher("up", "--offline", "--proxy-port", str(live_stack.settings.proxy_port))
    assert result.returncode == 0, result.stderr
    assert "already running: upstream, phoenix, proxy; nothing started" in result.stderr
    assert {n: procs.read_pid(live_stack.state.pid_file(n)) for n in pids} == pids
