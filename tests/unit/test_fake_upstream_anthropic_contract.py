"""The fake upstream refuses what Anthropic refuses, sends Anthropic's headers, and plays the
faults a gateway test needs: every error status, an error inside a started stream, and "fail K
times for this conversation, then succeed" (in-process, through httpx's ASGI transport)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from claude_session.testing.fake_upstream import create_app
from claude_session.testing.fake_upstream.faults import UnknownFault, plan_fault

pytestmark = pytest.mark.anyio
MODEL = "claude-sonnet-4-5"
RATE_LIMIT_HEADERS = (
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        yield http


def _body(content: Any = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": content}], **extra}


def _without(key: str) -> dict[str, Any]:
    body = _body()
    del body[key]
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_without("model"), "model: Field required"),
        (_without("max_tokens"), "max_tokens: Field required"),
        (_body(max_tokens=0), "max_tokens: Input should be a positive integer"),
        (_body(max_tokens=-5), "max_tokens: Input should be a positive integer"),
        (_body(max_tokens=1.5), "max_tokens: Input should be a positive integer"),
        (_body(max_tokens=True), "max_tokens: Input should be a positive integer"),
        (_without("messages"), "messages: Field required"),
        ({**_body(), "messages": "hi"}, "messages: Input should be a valid list"),
        ({**_body(), "messages": []}, "messages: at least one message is required"),
        ({**_body(), "messages": ["hi"]}, "messages.0: Input should be a valid dictionary"),
        ({**_body(), "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role: Input should be"),
        ({**_body(), "messages": [{"role": "user"}]}, "messages.0.content: Field required"),
        (_body([{"type": "hologram", "text": "x"}]), "messages.0.content.0.type: unknown content block type"),
        (_body([{"text": "no type"}]), "messages.0.content.0.type: unknown content block type"),
        ([1, 2], "request body must be a JSON object"),
    ],
)
async def test_a_body_anthropic_refuses_gets_its_400(
    client: httpx.AsyncClient, body: object, reason: str
) -> None:
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["message"].startswith(reason)


async def test_claude_code_shaped_blocks_are_accepted(client: httpx.AsyncClient) -> None:
    content = [
        {"type": "text", "text": "look"},
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"},
        {"type": "thinking", "thinking": "hm", "signature": "s"},
    ]
    response = await client.post("/v1/messages", json=_body(content))
    assert response.status_code == 200, response.text
    counted = await client.post("/v1/messages/count_tokens", json=_without("max_tokens"))
    assert counted.status_code == 200, counted.text


@pytest.mark.parametrize("stream", [False, True])
async def test_every_answer_carries_a_request_id_and_the_rate_limit_headers(
    client: httpx.AsyncClient, stream: bool
) -> None:
    response = await client.post("/v1/messages", json=_body(stream=stream))
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_fake_")
    for name in RATE_LIMIT_HEADERS:
        assert response.headers[name], name
    assert "retry-after" not in response.headers and "x-should-retry" not in response.headers


async def test_fail_k_times_per_conversation_then_succeed(client: httpx.AsyncClient) -> None:
    def send(conversation: str) -> Any:
        return client.post(
            "/v1/messages",
            json=_body("go [[fault:529x2]]"),
            headers={"x-claude-code-session-id": conversation},
        )

    statuses = [(await send("conv-a")).status_code for _ in range(4)]
    assert statuses == [529, 529, 200, 200]
    # Another conversation has its own count.
    assert [(await send("conv-b")).status_code for _ in range(3)] == [529, 529, 200]
    log = (await client.get("/_fake/requests")).json()
    assert log["total"] == 7


async def test_an_error_inside_a_started_stream(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/messages", json=_body(stream=True), headers={"x-fake-fault": "stream-529"}
    )
    assert response.status_code == 200
    frames = [frame for frame in response.text.split("\n\n") if frame]
    names = [frame.split("\n")[0].removeprefix("event: ") for frame in frames]
    assert names == ["message_start", "ping", "error"]
    error = json.loads(frames[-1].split("\n")[1].removeprefix("data: "))
    assert error == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


async def test_an_in_stream_fault_on_a_non_streamed_request_is_the_plain_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/messages", json=_body(), headers={"x-fake-fault": "stream-429"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("fault", ["529x0", "999", "stream-", "stream-drop", "529x", "x2", "529x1000"])
def test_fault_values_outside_the_grammar_are_unknown(fault: str) -> None:
    with pytest.raises(UnknownFault):
        plan_fault(fault)
