"""Claude Code's LLM gateway protocol through the real patched proxy, against the fake upstream.

For each error status Anthropic uses, before a stream, inside a started stream (an SSE `error`
event after `message_start`) and without streaming, the client gets exactly the upstream's status,
error body and the headers `request-id`, `retry-after`, `x-should-retry` and `anthropic-ratelimit-*`,
and the upstream saw exactly one attempt (the proxy does not retry: Claude Code does). Request
headers: `anthropic-*` arrive unchanged, the proxy's key never does, the `system` array and SSE
`ping` events pass through. One shared stack (`live_stack`) for the whole module.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from claude_session.core import fields
from claude_session.session import launcher
from claude_session.testing.fake_upstream import ERROR_FAULTS, error_body
from claude_session.testing.fake_upstream.faults import RATE_LIMIT_REQUESTS, RATE_LIMIT_TOKENS, retryable
from tests.support import MODEL, Stack, wait_for_spans

STATUSES = ("400", "401", "403", "404", "413", "429", "500", "529")
RATE_LIMIT = {
    "anthropic-ratelimit-requests-limit": str(RATE_LIMIT_REQUESTS),
    "anthropic-ratelimit-requests-remaining": str(RATE_LIMIT_REQUESTS - 1),
    "anthropic-ratelimit-tokens-limit": str(RATE_LIMIT_TOKENS),
    "anthropic-ratelimit-tokens-remaining": str(RATE_LIMIT_TOKENS),
}


def _attempts(stack: Stack, conversation: str) -> list[dict[str, Any]]:
    """The requests the fake upstream received for this conversation id."""
    log = httpx.get(f"{stack.settings.upstream_url}/_fake/requests", timeout=10).json()
    return [r for r in log["requests"] if r["headers"].get(fields.CLAUDE_CODE_HEADER) == conversation]


def _send(
    stack: Stack, stream: bool, fault: str | None = None, extra: dict[str, str] | None = None
) -> tuple[httpx.Response, str]:
    conversation = str(uuid.uuid4())
    headers = {
        fields.CLAUDE_CODE_HEADER: conversation,
        **({"x-fake-fault": fault} if fault else {}),
        **(extra or {}),
    }
    return stack.messages(stream=stream, prompt="gateway conformance", extra_headers=headers), conversation


def _sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.strip().splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def _expected_error(fault: str) -> tuple[int, dict[str, Any]]:
    status, error_type, message = ERROR_FAULTS[fault]
    return status, error_body(error_type, message)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "before-stream"])
@pytest.mark.parametrize("fault", STATUSES)
def test_an_upstream_error_reaches_the_client_unchanged_after_one_attempt(
    live_stack: Stack, fault: str, stream: bool
) -> None:
    response, conversation = _send(live_stack, stream, fault)
    status, body = _expected_error(fault)
    assert response.status_code == status, response.text
    assert response.json() == body
    assert response.headers["request-id"].startswith("req_fake_")
    for name, value in RATE_LIMIT.items():
        assert response.headers.get(name) == value, name
    assert response.headers.get("x-should-retry") == ("true" if retryable(status) else "false")
    assert response.headers.get("retry-after") == ("1" if retryable(status) else None)
    assert len(_attempts(live_stack, conversation)) == 1


@pytest.mark.parametrize("fault", STATUSES)
def test_an_error_event_inside_a_stream_reaches_the_client_unchanged(live_stack: Stack, fault: str) -> None:
    response, conversation = _send(live_stack, True, f"stream-{fault}")
    _, body = _expected_error(fault)
    assert response.status_code == 200, response.text
    assert response.headers["request-id"].startswith("req_fake_")
    events = _sse_events(response.text)
    assert [name for name, _ in events] == ["message_start", "ping", "error"]
    assert events[-1][1] == body
    assert len(_attempts(live_stack, conversation)) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_success_keeps_the_upstream_request_id_and_rate_limit_headers(
    live_stack: Stack, stream: bool
) -> None:
    response, conversation = _send(live_stack, stream)
    assert response.status_code == 200, response.text
    assert response.headers["request-id"].startswith("req_fake_")
    for name, value in RATE_LIMIT.items():
        assert response.headers.get(name) == value, name
    assert "retry-after" not in response.headers
    if stream:
        assert "ping" in [name for name, _ in _sse_events(response.text)]  # passed through
    assert len(_attempts(live_stack, conversation)) == 1


def test_anthropic_headers_and_the_system_array_arrive_unchanged_and_the_proxy_key_never(
    live_stack: Stack,
) -> None:
    conversation = str(uuid.uuid4())
    beta = "zeta-2026-01-01, alpha-2025-02-02,interleaved-thinking-2025-05-14"  # not sorted, odd spacing
    system = [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Second block, kept second."},
    ]
    body = {
        "model": MODEL,
        "max_tokens": 32,
        "system": system,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {
        **live_stack.auth(),
        "content-type": "application/json",
        "anthropic-version": "2023-01-01",  # not LiteLLM's default (2023-06-01)
        "anthropic-beta": beta,
        "anthropic-dangerous-direct-browser-access": "true",
        fields.CLAUDE_CODE_HEADER: conversation,
    }
    response = httpx.post(
        f"{live_stack.proxy_url}/v1/messages?beta=true", headers=headers, json=body, timeout=60
    )
    assert response.status_code == 200, response.text
    (attempt,) = _attempts(live_stack, conversation)
    received = attempt["headers"]
    assert received["anthropic-beta"] == beta
    assert received["anthropic-version"] == "2023-01-01"
    assert received["anthropic-dangerous-direct-browser-access"] == "true"
    assert attempt["body"]["system"] == system
    assert fields.PROXY_KEY_HEADER not in received
    assert live_stack.master_key not in json.dumps(attempt)


def test_a_body_without_a_model_is_answered_by_the_proxy(live_stack: Stack) -> None:
    conversation = str(uuid.uuid4())
    headers = {
        **live_stack.auth(),
        "content-type": "application/json",
        fields.CLAUDE_CODE_HEADER: conversation,
    }
    body = {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{live_stack.proxy_url}/v1/messages", headers=headers, json=body, timeout=60)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith("model: Field required")
    assert _attempts(live_stack, conversation) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"model": MODEL, "max_tokens": -1, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": MODEL, "max_tokens": 8, "messages": "hi"}, "messages"),
        ({"model": MODEL, "max_tokens": 8, "messages": []}, "messages"),
    ],
)
def test_a_body_anthropic_refuses_gets_anthropic_s_400_through_the_proxy(
    live_stack: Stack, body: dict[str, Any], reason: str
) -> None:
    conversation = str(uuid.uuid4())
    headers = {
        **live_stack.auth(),
        "content-type": "application/json",
        fields.CLAUDE_CODE_HEADER: conversation,
    }
    response = httpx.post(f"{live_stack.proxy_url}/v1/messages", headers=headers, json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(reason)
    assert len(_attempts(live_stack, conversation)) == 1


def test_a_stream_that_ends_with_an_error_event_is_logged_as_an_error(live_stack: Stack) -> None:
    """The client got the upstream's error event; Phoenix records a failed attempt (patch 0019; it was an
    OK span), with the usage the stream reported before it failed (the fake's message_start: the input
    tokens and 1 output token) and its cost."""
    session = launcher.Session.new("gateway", "v1", "in-stream error").as_metadata()
    prompt = "gateway conformance [[usage in=300 out=40]]"
    response = live_stack.messages(
        session, stream=True, prompt=prompt, extra_headers={"x-fake-fault": "stream-529"}
    )
    assert response.status_code == 200, response.text
    assert _sse_events(response.text)[-1][0] == "error"
    (span,) = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 1)
    assert span["status_code"] == "ERROR"
    attributes = span["attributes"]
    assert attributes["metadata.usage_object.prompt_tokens"] == 300
    assert attributes["metadata.usage_object.completion_tokens"] == 1
    # Billed at claude-sonnet-4-5's list price (USD 3 and 15 per million input and output tokens).
    assert attributes["llm.cost.total"] == pytest.approx(300 * 3e-6 + 1 * 15e-6, rel=1e-9)
