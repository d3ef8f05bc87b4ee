"""Upstream faults reach the client as Anthropic errors and Phoenix as ERROR spans with the session.

The fake upstream injects each fault (`x-fake-fault`); the proxy is the shared test stack's.
The proxy makes one upstream attempt per request (no retries by default); the other cases pass
`x-litellm-num-retries: 0` too, which a client may send, and the 429 case checks the default.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from claude_session.core import fields
from claude_session.session import launcher
from tests.support import Stack, session_of, wait_for_spans

NO_RETRY = {"x-litellm-num-retries": "0"}


def _session(name: str) -> dict[str, str]:
    return launcher.Session.new("faults", "v3", name).as_metadata()


def _send(
    stack: Stack, fault: str, stream: bool, extra: dict[str, str] | None = None
) -> tuple[httpx.Response, dict[str, str], str]:
    session = _session(f"upstream {fault}")
    conversation = str(uuid.uuid4())
    headers = {"x-fake-fault": fault, fields.CLAUDE_CODE_HEADER: conversation, **(extra or {})}
    response = stack.messages(session, stream=stream, prompt=f"fault {fault}", extra_headers=headers)
    return response, session, conversation


def _assert_error_span(stack: Stack, session: dict[str, str], conversation: str) -> dict:
    (span,) = wait_for_spans(stack, {"session.id": session["session_id"]}, 1)
    assert span["status_code"] == "ERROR"
    assert any(event["name"] == "exception" for event in span.get("events", []))
    assert session_of(span) == {
        "session.id": session["session_id"],
        "session.type": "faults",
        "session.prompt_version": "v3",
        "session.name": session["session_name"],
        "claude_code.session_id": conversation,
    }
    return span


def _anthropic_error(response: httpx.Response) -> dict:
    body = response.json()
    assert body["type"] == "error", body
    assert set(body["error"]) >= {"type", "message"}, body
    return body["error"]


@pytest.mark.parametrize(
    ("fault", "status", "error_type", "extra"),
    [
        ("429", 429, "rate_limit_error", {}),  # the proxy's default: no retry
        ("500", 500, "api_error", NO_RETRY),
        ("400", 400, "invalid_request_error", NO_RETRY),
    ],
)
def test_upstream_error_is_anthropic_shaped_and_span_records_it(
    live_stack: Stack, fault: str, status: int, error_type: str, extra: dict[str, str]
) -> None:
    response, session, conversation = _send(live_stack, fault, stream=True, extra=extra)
    assert response.status_code == status, response.text
    assert _anthropic_error(response)["type"] == error_type
    _assert_error_span(live_stack, session, conversation)


def test_overloaded_529_is_an_anthropic_error_with_an_error_span(live_stack: Stack) -> None:
    response, session, conversation = _send(live_stack, "529", stream=True)
    assert response.status_code == 529, response.text
    assert _anthropic_error(response) == {"type": "overloaded_error", "message": "Overloaded"}
    _assert_error_span(live_stack, session, conversation)


def test_overloaded_529_keeps_its_status_and_type(live_stack: Stack) -> None:
    """Formerly a strict xfail: LiteLLM 1.108.7 mapped Anthropic's 529 to a 500 api_error
    (patches 0015 and 0016 return the upstream's answer unchanged)."""
    response, _, _ = _send(live_stack, "529", stream=False)
    assert response.status_code == 529
    assert _anthropic_error(response)["type"] == "overloaded_error"
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-should-retry"] == "true"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_upstream_timeout_is_an_anthropic_error(live_stack: Stack, stream: bool) -> None:
    # The fake stalls 300 s; the proxy's per-request timeout (x-litellm-timeout) ends it after 2 s.
    extra = {**NO_RETRY, "x-litellm-timeout": "2"}
    response, session, conversation = _send(live_stack, "timeout", stream=stream, extra=extra)
    assert response.status_code in (408, 504), response.text
    assert _anthropic_error(response)["type"] in {"api_error", "timeout_error"}
    _assert_error_span(live_stack, session, conversation)


def test_connection_dropped_before_the_answer_is_an_api_error(live_stack: Stack) -> None:
    response, session, conversation = _send(live_stack, "drop", stream=False, extra=NO_RETRY)
    assert response.status_code == 500, response.text
    assert _anthropic_error(response)["type"] == "api_error"
    _assert_error_span(live_stack, session, conversation)


def test_connection_dropped_mid_stream_is_an_anthropic_error(live_stack: Stack) -> None:
    """The fake cuts the stream after its first text delta. If the proxy has not answered yet it
    sends a 500 api_error; once the 200 and the first events are out, Anthropic's way is an SSE
    `error` event, and no message_stop (which of the two depends on timing)."""
    response, session, conversation = _send(live_stack, "drop", stream=True, extra=NO_RETRY)
    if response.status_code == 500:
        assert _anthropic_error(response)["type"] == "api_error"
    else:
        assert response.status_code == 200, response.text
        events = [block for block in response.text.split("\n\n") if block.strip()]
        assert events[0].startswith("event: message_start")
        assert "message_stop" not in response.text
        last = events[-1]
        assert last.startswith("event: error"), last
        data = json.loads(last.split("data:", 1)[1])
        assert data["type"] == "error"
        assert data["error"]["type"] == "api_error"
    _assert_error_span(live_stack, session, conversation)


def test_proxy_keeps_serving_after_the_faults(live_stack: Stack) -> None:
    response = live_stack.messages(_session("after faults"), stream=True)
    assert response.status_code == 200
    assert "message_stop" in response.text
