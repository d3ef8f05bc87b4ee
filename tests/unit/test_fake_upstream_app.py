"""In-process tests of the fake upstream's ASGI app (routes, recording, faults, stalls).

Requests go through httpx.AsyncClient over httpx.ASGITransport, or straight into the ASGI
callable when a test needs to see a connection drop or play a client that leaves; no sockets.
Dropping a real TCP connection is uvicorn-only and is checked in test_fake_upstream_server.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from claude_session.testing.fake_upstream import (
    TIMEOUT_FAULT_SECONDS,
    InjectedDrop,
    compute_usage,
    create_app,
    fake_of,
    reply_text,
)
from claude_session.testing.fake_upstream import app as fake_app

MODEL = "claude-sonnet-4-5-20250929"

# Async tests run on asyncio through anyio's pytest plugin.
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _body(*messages: dict[str, Any], stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "stream": stream, "messages": list(messages), **extra}


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def _parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse SSE strictly: every frame must be exactly 'event: X' + 'data: {json with type X}'."""
    events = []
    for frame in text.split("\n\n"):
        if not frame:
            continue
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: "), frame
        name, data = event_line[len("event: ") :], json.loads(data_line[len("data: ") :])
        assert data["type"] == name
        events.append((name, data))
    return events


def _names(events: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in events]


def _assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["request-id"].startswith("req_fake_")
    payload: dict[str, Any] = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == error_type
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
    return payload


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with _async_client(app) as http:
        yield http


async def _stream(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> tuple[httpx.Response, list[tuple[str, Any]]]:
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    return response, _parse_sse(response.text)


def _async_client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake")


@dataclass
class AsgiCall:
    """What the app sent for one request driven straight through the ASGI interface."""

    sent: list[Message] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def status(self) -> int | None:
        starts = [message["status"] for message in self.sent if message["type"] == "http.response.start"]
        return starts[0] if starts else None

    @property
    def body(self) -> bytes:
        return b"".join(
            message.get("body", b"") for message in self.sent if message["type"] == "http.response.body"
        )


async def _asgi_post(
    app: Starlette,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    disconnect_after: float | None = None,
    into: AsgiCall | None = None,
) -> AsgiCall:
    """POST ``body``; the client disconnects after ``disconnect_after`` s (never, if None).

    ``into``: the call to record in, for a test that watches it while the app still runs."""
    call = into if into is not None else AsgiCall()
    gone = asyncio.Event()
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        call.sent.append(message)

    all_headers = {"content-type": "application/json", "content-length": str(len(body)), **(headers or {})}
    raw_headers = [(name.encode(), value.encode()) for name, value in all_headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("fake", 80),
    }
    if disconnect_after is not None:
        asyncio.get_running_loop().call_later(disconnect_after, gone.set)
    try:
        await app(scope, receive, send)
    except Exception as exc:
        call.error = exc
    finally:
        gone.set()
    return call


def _is_drop(error: BaseException | None) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_is_drop(inner) for inner in error.exceptions)
    return isinstance(error, InjectedDrop)


# --------------------------------------------------------------------------- basics


async def test_root_and_health(client: httpx.AsyncClient) -> None:
    assert (await client.head("/")).status_code == 200
    for path in ("/", "/health"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "service": "fake-anthropic"}


async def test_unknown_path_and_method_get_anthropic_errors(client: httpx.AsyncClient) -> None:
    _assert_error(await client.get("/v1/nope"), 404, "not_found_error")
    _assert_error(await client.get("/v1/messages"), 405, "invalid_request_error")


async def test_streaming_event_sequence_and_usage(client: httpx.AsyncClient) -> None:
    body = _body(_user("Say hello to the offline world."), stream=True)
    response, events = await _stream(client, body)
    assert response.headers["request-id"].startswith("req_fake_")
    # 24 default words in chunks of 4 -> 6 text deltas.
    assert _names(events) == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 6,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    expected = compute_usage(body, 24)
    assert expected == {
        "input_tokens": len("Say hello to the offline world.") // 4,
        "output_tokens": 24,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = events[0][1]["message"]
    assert message["id"].startswith("msg_fake_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", MODEL)
    assert message["content"] == [] and message["stop_reason"] is None
    assert message["usage"] == {**expected, "output_tokens": 1}
    assert events[2][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert all(delta["type"] == "text_delta" and len(delta["text"].split()) == 4 for delta in deltas)
    assert "".join(delta["text"] for delta in deltas) == reply_text(24)
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": expected,
    }


async def test_non_streaming_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/messages", json=_body(_user("x" * 400)))
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_fake_")
    message = response.json()
    assert message["id"].startswith("msg_fake_")
    assert {k: message[k] for k in ("type", "role", "model", "stop_reason", "stop_sequence")} == {
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    assert message["content"] == [{"type": "text", "text": reply_text(24)}]
    assert message["usage"] == {
        "input_tokens": 100,
        "output_tokens": 24,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


async def test_count_tokens(client: httpx.AsyncClient) -> None:
    body = _body(_user("y" * 81), system="s" * 19)
    response = await client.post("/v1/messages/count_tokens?beta=true", json=body)
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_fake_")
    assert response.json() == {"input_tokens": 25}


async def test_query_string_is_ignored_and_recorded(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/messages?beta=true", json=_body(_user("hi")))
    assert response.status_code == 200
    log = (await client.get("/_fake/requests")).json()
    assert log["count"] == 1
    assert log["requests"][0]["method"] == "POST"
    assert log["requests"][0]["path"] == "/v1/messages"
    assert log["requests"][0]["query"] == "beta=true"


async def test_tolerates_claude_code_shaped_requests(client: httpx.AsyncClient) -> None:
    """system blocks, role=system messages, mixed block types and unknown top-level fields."""
    messages = [
        {"role": "system", "content": "a" * 10},
        _user(
            [
                {"type": "text", "text": "b" * 20},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "Zm9v" * 50},
                },
            ]
        ),
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm " * 100, "signature": "sig"},
                {"type": "text", "text": "c" * 30},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/x" * 100}},
            ],
        },
        _user(
            [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "d" * 40},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "e" * 50}],
                },
                {"type": "text", "text": "f" * 60},
            ]
        ),
    ]
    body = _body(
        *messages,
        stream=True,
        system=[{"type": "text", "text": "g" * 70}, {"type": "text", "text": "h" * 80}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        context_management={"edits": []},
        output_config={"effort": "high"},
        metadata={"user_id": "u"},
        tools=[{"name": "Read", "input_schema": {"type": "object"}}],
        tool_choice={"type": "auto"},
    )
    _, events = await _stream(client, body)
    assert _names(events)[-1] == "message_stop"
    assert events[-2][1]["usage"]["input_tokens"] == 360 // 4


async def test_large_body(client: httpx.AsyncClient) -> None:
    body = _body(
        _user("z" * 60_000),
        stream=True,
        tools=[{"name": f"t{i}", "description": "w" * 100} for i in range(50)],
    )
    assert len(json.dumps(body)) > 60_000
    _, events = await _stream(client, body)
    assert events[-2][1]["usage"]["input_tokens"] == 15_000


async def test_invalid_requests(client: httpx.AsyncClient) -> None:
    bad_json = await client.post(
        "/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
    )
    _assert_error(bad_json, 400, "invalid_request_error")
    _assert_error(await client.post("/v1/messages", content=b"\xff\xfe"), 400, "invalid_request_error")
    _assert_error(await client.post("/v1/messages", json={"messages": []}), 400, "invalid_request_error")
    _assert_error(
        await client.post("/v1/messages", json={"model": "", "messages": []}), 400, "invalid_request_error"
    )
    _assert_error(await client.post("/v1/messages", json={"model": MODEL}), 400, "invalid_request_error")
    _assert_error(await client.post("/v1/messages", json=[1, 2]), 400, "invalid_request_error")
    _assert_error(
        await client.post("/v1/messages/count_tokens", json={"model": MODEL}), 400, "invalid_request_error"
    )
    bad_directive = await client.post("/v1/messages", json=_body(_user("[[usage out=many]]")))
    assert "usage directive" in _assert_error(bad_directive, 400, "invalid_request_error")["error"]["message"]
    bad_count = await client.post("/v1/messages/count_tokens", json=_body(_user("[[tool:X {]]")))
    _assert_error(bad_count, 400, "invalid_request_error")


async def test_declared_oversized_body_is_refused_unread(app: Starlette) -> None:
    call = await _asgi_post(app, "/v1/messages", b"{}", {"content-length": str(33 * 1024 * 1024)})
    assert call.error is None and call.status == 413
    assert json.loads(call.body)["error"]["type"] == "request_too_large"
    assert fake_of(app).requests[-1]["body"] is None


# --------------------------------------------------------------------------- usage rules


async def test_usage_directive_overrides_and_sets_reply_length(client: httpx.AsyncClient) -> None:
    prompt = [
        {"type": "text", "text": "<system-reminder>ignore</system-reminder>"},
        {"type": "text", "text": "hello [[usage in=120 out=30 cache_read=40 cache_write=8]]"},
    ]
    body = _body(_user(prompt), stream=True)
    _, events = await _stream(client, body)
    expected = {
        "input_tokens": 120,
        "output_tokens": 30,
        "cache_creation_input_tokens": 8,
        "cache_read_input_tokens": 40,
    }
    assert events[-2][1]["usage"] == expected == compute_usage(body, 24)
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert len(text.split()) == 30
    count = await client.post("/v1/messages/count_tokens", json=body)
    assert count.json() == {"input_tokens": 120}


async def test_usage_directive_subset(client: httpx.AsyncClient) -> None:
    message = (await client.post("/v1/messages", json=_body(_user("k" * 40 + " [[usage out=3]]")))).json()
    assert message["content"][0]["text"] == "Hello from the"
    assert message["usage"]["output_tokens"] == 3
    assert message["usage"]["input_tokens"] == len("k" * 40 + " [[usage out=3]]") // 4


async def test_cache_control_detection(client: httpx.AsyncClient) -> None:
    system = [{"type": "text", "text": "q" * 400, "cache_control": {"type": "ephemeral"}}]
    cached = (await client.post("/v1/messages", json=_body(_user("r" * 400), system=system))).json()
    assert cached["usage"] == {
        "input_tokens": 200,
        "output_tokens": 24,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 150,
    }
    plain = (await client.post("/v1/messages", json=_body(_user("r" * 400), system="q" * 400))).json()
    assert plain["usage"]["cache_read_input_tokens"] == plain["usage"]["cache_creation_input_tokens"] == 0


# --------------------------------------------------------------------------- tool round trip


async def test_tool_round_trip(client: httpx.AsyncClient) -> None:
    prompt = [
        {"type": "text", "text": "<system-reminder>context</system-reminder>"},
        {"type": "text", "text": 'List the docs [[tool:Glob {"pattern":"*.md"}]]'},
    ]
    first = _body(_user(prompt), stream=True)
    _, events = await _stream(client, first)
    assert _names(events)[:3] == ["message_start", "ping", "content_block_start"]
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert [block["type"] for block in starts] == ["text", "tool_use"]
    tool_block = starts[1]
    assert tool_block["id"].startswith("toolu_fake_") and tool_block["name"] == "Glob"
    partial = "".join(
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["index"] == 1
    )
    assert json.loads(partial) == {"pattern": "*.md"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] == 1 + len("Let me check.".split()) + 10

    second = _body(
        _user(prompt),
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": tool_block["id"], "name": "Glob", "input": {"pattern": "*.md"}},
            ],
        },
        _user([{"type": "tool_result", "tool_use_id": tool_block["id"], "content": "README.md"}]),
    )
    reply = (await client.post("/v1/messages", json=second)).json()
    assert reply["content"] == [{"type": "text", "text": "Tool result received: done."}]
    assert reply["stop_reason"] == "end_turn"
    assert reply["usage"]["output_tokens"] == 4


async def test_tool_directive_without_json_non_streaming(client: httpx.AsyncClient) -> None:
    reply = (await client.post("/v1/messages", json=_body(_user("go [[tool:Bash]]")))).json()
    assert reply["stop_reason"] == "tool_use"
    assert reply["content"][0] == {"type": "text", "text": "Let me check."}
    tool = reply["content"][1]
    assert tool["type"] == "tool_use" and tool["name"] == "Bash" and tool["input"] == {}
    assert tool["id"].startswith("toolu_fake_")


# --------------------------------------------------------------------------- faults

_FAULTS = [
    ("429", 429, "rate_limit_error", "fake rate limit"),
    ("500", 500, "api_error", None),
    ("529", 529, "overloaded_error", "Overloaded"),
    ("400", 400, "invalid_request_error", None),
    ("401", 401, "authentication_error", None),
    ("403", 403, "permission_error", None),
    ("404", 404, "not_found_error", None),
    ("413", 413, "request_too_large", None),
]


@pytest.mark.parametrize("via", ["header", "marker"])
@pytest.mark.parametrize(("fault", "status", "error_type", "message"), _FAULTS)
async def test_error_faults(
    client: httpx.AsyncClient, via: str, fault: str, status: int, error_type: str, message: str | None
) -> None:
    if via == "header":
        response = await client.post(
            "/v1/messages", json=_body(_user("hi"), stream=True), headers={"x-fake-fault": fault}
        )
    else:
        response = await client.post("/v1/messages", json=_body(_user(f"hi [[fault:{fault}]]"), stream=True))
    payload = _assert_error(response, status, error_type)
    if message is not None:
        assert payload == {"type": "error", "error": {"type": error_type, "message": message}}
    retryable = status in (429, 500, 529)  # what Anthropic tells clients to retry
    assert response.headers.get("retry-after") == ("1" if retryable else None)
    assert response.headers["x-should-retry"] == ("true" if retryable else "false")
    assert response.headers["anthropic-ratelimit-requests-limit"].isdigit()


async def test_fault_header_wins_over_marker(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/messages", json=_body(_user("hi [[fault:500]]")), headers={"x-fake-fault": " 529 "}
    )
    _assert_error(response, 529, "overloaded_error")


async def test_unknown_fault_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/messages", json=_body(_user("hi")), headers={"x-fake-fault": "explode"})
    _assert_error(response, 400, "invalid_request_error")


async def test_drop_cuts_stream_mid_message(app: Starlette, client: httpx.AsyncClient) -> None:
    # Outside uvicorn there is no transport to close, so the cut is an InjectedDrop after the
    # first four events (uvicorn's real connection drop is in test_fake_upstream_server.py).
    body = json.dumps(_body(_user("hi [[fault:drop]]"), stream=True)).encode()
    call = await _asgi_post(app, "/v1/messages", body)
    assert call.status == 200 and _is_drop(call.error), call.error
    events = _parse_sse(call.body.decode())
    assert _names(events) == ["message_start", "ping", "content_block_start", "content_block_delta"]
    # The app must still be healthy afterwards.
    assert (await client.get("/health")).status_code == 200


async def test_pause_holds_a_stream_after_its_first_delta_then_completes(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_app, "PAUSE_SECONDS", 3600.0)  # released below, not waited out
    plain = await _asgi_post(app, "/v1/messages", json.dumps(_body(_user("hi"), stream=True)).encode())
    body = json.dumps(_body(_user("hi"), stream=True)).encode()
    watched = AsgiCall()
    call = asyncio.create_task(_asgi_post(app, "/v1/messages", body, {"x-fake-fault": "pause"}, into=watched))
    held = ["message_start", "ping", "content_block_start", "content_block_delta"]
    for _ in range(1000):  # the stream reaches its pause after a few loop turns
        if _names(_parse_sse(watched.body.decode())) == held:
            break
        await asyncio.sleep(0.01)
    for _ in range(20):  # still held: nothing more is sent while other tasks run
        await asyncio.sleep(0)
    assert _names(_parse_sse(watched.body.decode())) == held and not call.done()
    fake_of(app).begin_shutdown()  # ends the pause early; the reply completes
    finished = await call
    assert finished.status == 200 and finished.error is None
    assert _names(_parse_sse(finished.body.decode())) == _names(_parse_sse(plain.body.decode()))


async def test_drop_non_streaming_closes_without_response(app: Starlette) -> None:
    body = json.dumps(_body(_user("hi"))).encode()
    call = await _asgi_post(app, "/v1/messages", body, {"x-fake-fault": "drop"})
    assert _is_drop(call.error), call.error
    # No reply was sent (Starlette's error middleware answers 500 where uvicorn would just close).
    assert call.status != 200 and b"msg_fake_" not in call.body
    async with _async_client(app) as http:
        with pytest.raises(InjectedDrop):
            await http.post("/v1/messages", json=_body(_user("hi [[fault:drop]]")))


async def test_timeout_fault_stalls_without_blocking_others() -> None:
    assert fake_of(create_app()).timeout_fault_seconds == TIMEOUT_FAULT_SECONDS == 300
    stall = 0.3
    app = create_app(timeout_fault_seconds=stall)

    async with _async_client(app) as http:
        started = time.monotonic()
        stalled = asyncio.ensure_future(http.post("/v1/messages", json=_body(_user("[[fault:timeout]]"))))
        await asyncio.sleep(0.05)
        ok = await http.post("/v1/messages", json=_body(_user("meanwhile")))
        # Not blocked: answered while the stalled request is still waiting (no clock involved).
        assert ok.status_code == 200
        assert not stalled.done()
        late = await stalled
        # After the stall the reply is an ordinary one.
        assert time.monotonic() - started >= stall
        assert late.status_code == 200 and late.json()["stop_reason"] == "end_turn"


async def test_timeout_fault_lets_go_on_shutdown() -> None:
    app = create_app()  # the real 300 s stall

    async with _async_client(app) as http:
        stalled = asyncio.ensure_future(
            http.post("/v1/messages", json=_body(_user("hi")), headers={"x-fake-fault": "timeout"})
        )
        await asyncio.sleep(0.05)
        assert not stalled.done()
        fake_of(app).begin_shutdown()
        # The stalled client is cut loose, not answered.
        with pytest.raises(InjectedDrop):
            await asyncio.wait_for(stalled, 2)


async def test_timeout_fault_ends_when_the_client_leaves(app: Starlette) -> None:
    body = json.dumps(_body(_user("[[fault:timeout]]"))).encode()
    started = time.monotonic()
    call = await _asgi_post(app, "/v1/messages", body, disconnect_after=0.05)
    assert time.monotonic() - started < 60  # not the 300 s stall; no busy machine takes 60 s
    assert call.error is None and call.status == 204


# --------------------------------------------------------------------------- request log


async def test_request_log_records_headers_and_bodies(client: httpx.AsyncClient) -> None:
    body = _body(_user("logged"))
    await client.post("/v1/messages", json=body, headers={"X-Session-Marker": "abc", "anthropic-beta": "b1"})
    await client.post("/v1/messages/count_tokens", content=b"garbage")
    await client.get("/health")  # not an upstream API call: not recorded
    log = (await client.get("/_fake/requests")).json()
    assert log["count"] == 2 and log["total"] == 2
    first, second = log["requests"]
    assert first["path"] == "/v1/messages" and first["body"] == body
    assert first["headers"]["x-session-marker"] == "abc" and first["headers"]["anthropic-beta"] == "b1"
    assert second["path"] == "/v1/messages/count_tokens" and second["body"] is None
    cleared = await client.delete("/_fake/requests")
    assert cleared.status_code == 200 and cleared.json() == {"cleared": 2}
    assert (await client.get("/_fake/requests")).json() == {"count": 0, "total": 0, "requests": []}


async def test_request_log_joins_repeated_headers(client: httpx.AsyncClient) -> None:
    await client.post("/v1/messages", json=_body(_user("x")), headers=[("x-dup", "a"), ("x-dup", "b")])
    assert (await client.get("/_fake/requests")).json()["requests"][0]["headers"]["x-dup"] == "a, b"


async def test_request_log_keeps_last_200(client: httpx.AsyncClient) -> None:
    for i in range(205):
        await client.post("/v1/messages/count_tokens", json=_body(_user(str(i))))
    log = (await client.get("/_fake/requests")).json()
    assert log["count"] == 200 and log["total"] == 205
    assert log["requests"][0]["body"]["messages"][0]["content"] == "5"


# --------------------------------------------------------------------------- embedding


async def test_create_app_embeds_with_think_time_and_sizes() -> None:
    app = create_app(think_ms=100, reply_words=5, chunk_words=2)

    async with _async_client(app) as http:
        started = time.monotonic()
        response = await http.post("/v1/messages", json=_body(_user("hi"), stream=True))
    assert time.monotonic() - started >= 0.1
    deltas = [
        data["delta"]["text"] for name, data in _parse_sse(response.text) if name == "content_block_delta"
    ]
    assert deltas == ["Hello from", " the offline", " fake"]
    for bad in ({"chunk_words": 0}, {"think_ms": -1}, {"reply_words": -1}, {"timeout_fault_seconds": -1}):
        with pytest.raises(ValueError):
            create_app(**bad)


def test_fake_of_rejects_foreign_apps() -> None:
    with pytest.raises(TypeError):
        fake_of(Starlette())
