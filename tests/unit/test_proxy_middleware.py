"""SessionMetadataMiddleware and tag_request, in process through an ASGI client.

The app behind the middleware records the session it sees (`current_session()`)
and returns the JSON body it was sent after `tag_request` ran on it, as LiteLLM's
pre-call hook does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from claude_session.core import fields
from claude_session.proxy import metadata
from claude_session.proxy.middleware import (
    Message,
    SessionMetadataMiddleware,
    _is_litellm_metadata,
    current_session,
    tag_request,
)
from claude_session.proxy.proxy_wide import ProxyWideStore

pytestmark = pytest.mark.anyio

SESSION_HEADERS = {
    "x-session-tracking-id": "code-review-20251101-143022-a3f2b1",
    "x-session-tracking-type": "code-review",
    "x-session-tracking-prompt-version": "v2",
    "x-session-tracking-name": "auth flow",
}
SESSION = {
    "session_id": "code-review-20251101-143022-a3f2b1",
    "session_type": "code-review",
    "prompt_version": "v2",
    "session_name": "auth flow",
}
# Requests go to a route without the Messages body checks, so any body reaches the app.
CHAT = "/v1/chat/completions"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """What the app behind the middleware saw, one entry per request that reached it."""

    def __init__(self) -> None:
        self.sessions: list[dict[str, str] | None] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        self.sessions.append(current_session())
        raw = await request.body()
        data: Any = json.loads(raw) if raw else {}
        tag_request(data)
        return JSONResponse({"session": current_session(), "data": data})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(recorder: Recorder) -> SessionMetadataMiddleware:
    # The chat route: the Messages routes' own body checks are in test_proxy_request_body.py.
    routes = [Route(path, recorder.endpoint, methods=["POST"]) for path in ("/v1/messages", CHAT)]
    inner = Starlette(routes=routes)
    return SessionMetadataMiddleware(inner)


@pytest.fixture
async def client(app: SessionMetadataMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as http:
        yield http


async def post(client: httpx.AsyncClient, headers: Mapping[str, Any], body: object = None) -> httpx.Response:
    return await client.post(CHAT, headers=dict(headers), json=body if body is not None else {})


def assert_anthropic_400(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["request-id"].startswith("req_session_")
    payload = response.json()
    assert set(payload) == {"type", "error"}
    assert payload["type"] == "error"
    assert set(payload["error"]) == {"type", "message"}
    assert payload["error"]["type"] == "invalid_request_error"
    for word in words:
        assert word in payload["error"]["message"]


# --- the session the app sees ---


async def test_valid_headers_give_the_app_the_session(client: httpx.AsyncClient, recorder: Recorder) -> None:
    response = await post(client, SESSION_HEADERS)
    assert response.status_code == 200
    assert recorder.sessions == [SESSION]


async def test_header_names_are_case_insensitive(client: httpx.AsyncClient, recorder: Recorder) -> None:
    await post(client, {"X-Session-Tracking-Type": "code-review"})
    assert recorder.sessions == [{"session_type": "code-review"}]


async def test_claude_code_session_id_is_captured(client: httpx.AsyncClient, recorder: Recorder) -> None:
    conversation = "0b0c5f0e-4f7e-4d2b-9d6a-1c2e3f4a5b6c"
    await post(client, {**SESSION_HEADERS, "x-claude-code-session-id": conversation})
    assert recorder.sessions == [{**SESSION, "claude_code_session_id": conversation}]


async def test_claude_code_id_alone_is_a_session(client: httpx.AsyncClient, recorder: Recorder) -> None:
    await post(client, {"x-claude-code-session-id": "conv-1"})
    assert recorder.sessions == [{"claude_code_session_id": "conv-1"}]


async def test_a_malformed_claude_code_id_is_dropped_not_refused(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await post(client, {"x-claude-code-session-id": "not a conversation id"})
    assert response.status_code == 200
    assert recorder.sessions == [None]


async def test_no_session_headers_means_no_session(client: httpx.AsyncClient, recorder: Recorder) -> None:
    response = await post(client, {"x-unrelated": "yes", "user-agent": "claude-cli/2.0"})
    assert response.status_code == 200
    assert recorder.sessions == [None]
    assert response.json()["session"] is None


# --- refused with a 400, the app never called ---


@pytest.mark.parametrize(
    "headers, words",
    [
        ({"x-session-tracking-type": "a b$"}, ["x-session-tracking-type", "only letters"]),
        ({"x-session-tracking-id": "x" * 129}, ["x-session-tracking-id", "at most 128"]),
        ({"x-session-tracking-prompt-version": "-v1"}, ["x-session-tracking-prompt-version"]),
        ({"x-session-tracking-name": "a%zzb"}, ["x-session-tracking-name", "%XX escape"]),
        ({**SESSION_HEADERS, "x-session-tracking-name": "n" * 101}, ["at most 100"]),
    ],
)
async def test_an_invalid_session_value_is_refused(
    client: httpx.AsyncClient, recorder: Recorder, headers: dict[str, str], words: list[str]
) -> None:
    response = await post(client, headers)
    assert_anthropic_400(response, "invalid session header", *words)
    assert recorder.sessions == []


async def test_the_refusal_never_echoes_the_value(client: httpx.AsyncClient) -> None:
    response = await post(client, {"x-session-tracking-type": "secret$value"})
    assert_anthropic_400(response)
    assert "secret$value" not in response.text


async def test_a_non_ascii_value_in_another_x_header_is_refused(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await post(client, {"x-note": "caf\u00e9".encode()})
    assert_anthropic_400(response, "x-note", "ASCII")
    assert recorder.sessions == []


async def test_a_non_ascii_value_outside_x_headers_passes(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    response = await post(client, {"user-agent": "caf\u00e9".encode()})
    assert response.status_code == 200
    assert recorder.sessions == [None]


@pytest.mark.parametrize("name", ["x-litellm-timeout", "x-litellm-stream-timeout", "x-litellm-num-retries"])
@pytest.mark.parametrize("value", ["soon", "", "-1", "1e"])
async def test_a_non_numeric_control_header_is_refused(
    client: httpx.AsyncClient, recorder: Recorder, name: str, value: str
) -> None:
    response = await post(client, {name: value})
    assert_anthropic_400(response, name, "number")
    assert recorder.sessions == []


@pytest.mark.parametrize("value", ["30", "2.5", "0"])
async def test_a_numeric_timeout_passes(client: httpx.AsyncClient, recorder: Recorder, value: str) -> None:
    response = await post(client, {"x-litellm-timeout": value, **SESSION_HEADERS})
    assert response.status_code == 200
    assert recorder.sessions == [SESSION]


# --- raw ASGI: bytes no HTTP client sends, and the context variable's lifetime ---


async def call_raw(app: SessionMetadataMiddleware, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    sent: list[Message] = []
    body = b"{}"

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": CHAT,
        "raw_path": CHAT.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"2"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("proxy.test", 80),
    }
    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-forwarded-note", "\u00fcber".encode())],
        [(b"x-forwarded-note", b"\xff\xfe")],
        [(b"x-session-tracking-name", "caf\u00e9".encode())],
        [(b"x-session-tracking-type", b"evil\nvalue")],
    ],
)
async def test_raw_bytes_a_client_would_refuse_are_refused_too(
    app: SessionMetadataMiddleware, recorder: Recorder, headers: list[tuple[bytes, bytes]]
) -> None:
    sent = await call_raw(app, headers)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
    payload = json.loads(sent[1]["body"])
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert recorder.sessions == []


async def test_the_session_is_reset_after_the_request(
    app: SessionMetadataMiddleware, recorder: Recorder, client: httpx.AsyncClient
) -> None:
    # The ASGI transport runs the app in this very task: what it set would leak here.
    assert current_session() is None
    await post(client, SESSION_HEADERS)
    assert recorder.sessions == [SESSION]
    assert current_session() is None

    sent = await call_raw(app, [(b"x-session-tracking-type", b"batch")])
    assert sent[0]["status"] == 200
    assert recorder.sessions[-1] == {"session_type": "batch"}
    assert current_session() is None


async def test_the_session_is_reset_when_the_app_raises() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        assert current_session() == {"session_type": "batch"}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await call_raw(SessionMetadataMiddleware(failing), [(b"x-session-tracking-type", b"batch")])
    assert current_session() is None


async def test_a_request_keeps_the_proxy_wide_session_it_arrived_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProxyWideStore(tmp_path / "proxy-session.json")
    monkeypatch.setattr(metadata, "proxy_wide_store", lambda: store)
    before = store.set({"session_id": fields.new_session_id("before"), "session_type": "before"})
    after = {"session_id": fields.new_session_id("after"), "session_type": "after"}
    seen: list[dict[str, str]] = []

    async def defaults_later() -> dict[str, str]:
        return dict(metadata.proxy_defaults())

    async def switched_in_flight(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(metadata.proxy_defaults()))
        store.set(after)  # `--proxy-wide` while this request is in flight
        # Its logging runs at the end, in a task and a worker thread that inherit its context.
        seen.append(await asyncio.create_task(defaults_later()))
        seen.append(dict(await anyio.to_thread.run_sync(metadata.proxy_defaults)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    await call_raw(SessionMetadataMiddleware(switched_in_flight), [])
    assert seen == [before, before, before]
    assert metadata.proxy_defaults() == after  # the next request's


async def test_non_http_scopes_pass_through_untouched() -> None:
    seen: list[Any] = []

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], current_session()))

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    await SessionMetadataMiddleware(lifespan_app)({"type": "lifespan"}, receive, send)
    assert seen == [("lifespan", None)]


# --- tag_request: where the session lands in the request's metadata ---


async def test_messages_data_is_tagged_in_litellm_metadata(client: httpx.AsyncClient) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "metadata": {"user_id": "u-1"},  # Anthropic's own field: left alone
        "litellm_metadata": {
            "user_api_key": "hashed",
            "requester_metadata": {"team": "a", "session_type": "old"},
        },
    }
    headers = {**SESSION_HEADERS, "x-claude-code-session-id": "conv-1"}
    data = (await post(client, headers, body)).json()["data"]
    assert data["metadata"] == {"user_id": "u-1"}
    assert data["litellm_metadata"]["user_api_key"] == "hashed"
    assert data["litellm_metadata"]["requester_metadata"] == {
        "team": "a",
        **SESSION,
        "claude_code_session_id": "conv-1",
    }


async def test_messages_data_without_litellm_metadata_gets_one(client: httpx.AsyncClient) -> None:
    body = {"model": "claude-sonnet-4-5", "metadata": {"user_id": "u-1"}}
    data = (await post(client, SESSION_HEADERS, body)).json()["data"]
    assert data["metadata"] == {"user_id": "u-1"}
    assert data["litellm_metadata"] == {"requester_metadata": SESSION}


async def test_chat_completions_data_is_tagged_in_metadata(client: httpx.AsyncClient) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "metadata": {"user_api_key": "hashed", "requester_metadata": {"team": "a"}},
    }
    data = (await post(client, SESSION_HEADERS, body)).json()["data"]
    assert "litellm_metadata" not in data
    assert data["metadata"] == {"user_api_key": "hashed", "requester_metadata": {"team": "a", **SESSION}}


async def test_a_non_dict_requester_metadata_is_replaced(client: httpx.AsyncClient) -> None:
    body = {"litellm_metadata": {"requester_metadata": "junk"}}
    data = (await post(client, SESSION_HEADERS, body)).json()["data"]
    assert data["litellm_metadata"]["requester_metadata"] == SESSION


@pytest.mark.parametrize("body", [["a", "list"], "a string", 42])
async def test_non_dict_data_is_untouched(client: httpx.AsyncClient, body: object) -> None:
    assert (await post(client, SESSION_HEADERS, body)).json()["data"] == body


async def test_a_non_dict_metadata_slot_is_left_alone(client: httpx.AsyncClient) -> None:
    body = {"litellm_metadata": "not a dict"}
    assert (await post(client, SESSION_HEADERS, body)).json()["data"] == body


async def test_without_a_session_data_is_untouched(client: httpx.AsyncClient) -> None:
    body = {"model": "claude-sonnet-4-5", "metadata": {"user_api_key": "hashed"}}
    assert (await post(client, {"x-unrelated": "1"}, body)).json()["data"] == body


def test_tag_request_outside_any_request_does_nothing() -> None:
    data: dict[str, Any] = {"metadata": {"user_api_key": "hashed"}}
    tag_request(data)
    assert data == {"metadata": {"user_api_key": "hashed"}}


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"metadata": {"user_api_key": "hashed"}}, True),
        ({"metadata": {"user_id": "u-1"}}, False),
        ({"metadata": "x"}, False),
        ({}, False),
        ({"metadata": {"user_api_key": "hashed"}, "litellm_metadata": {}}, False),
    ],
)
def test_is_litellm_metadata(data: dict, expected: bool) -> None:
    assert _is_litellm_metadata(data) is expected
