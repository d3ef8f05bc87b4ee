"""Tests for the offline fake Anthropic upstream (claude_session.fake_upstream).

Most tests talk to one real server subprocess over HTTP, exactly as the proxy
would; a few call the pure usage helpers directly or embed create_app().
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_session.fake_upstream import (
    DirectiveError,
    compute_usage,
    count_text_chars,
    create_app,
    parse_directives,
    reply_text,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-sonnet-4-5-20250929"


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError("fake upstream did not announce itself")
    return proc.stdout.readline().strip()


def _start(*extra: str) -> Server:
    port = _free_port()
    cmd = [sys.executable, "-m", "claude_session.fake_upstream", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, *extra], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = _read_line(proc, timeout=15)
    except Exception:
        _stop(proc)
        raise
    assert line == f"fake upstream listening on http://127.0.0.1:{port}"
    return Server(proc, f"http://127.0.0.1:{port}")


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Signal the server by PID and reap it; returns (exit code, stderr)."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = _start("--think-ms", "0")
    try:
        yield srv
    finally:
        code, err = _stop(srv.proc)
        # Drops, stalls and errors are all deliberate: none of them may look like a server crash.
        assert code == 0, err
        assert "Traceback" not in err and "Exception in ASGI" not in err, err


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        yield http


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


def _stream(client: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, list[tuple[str, Any]]]:
    response = client.post("/v1/messages", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response, _parse_sse(response.text)


def _names(events: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in events]


def _assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["request-id"].startswith("req_fake_")
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == error_type
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
    return payload


# --------------------------------------------------------------------------- basics


def test_root_and_health(client: httpx.Client) -> None:
    assert client.head("/").status_code == 200
    for path in ("/", "/health"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "service": "fake-anthropic"}


def test_unknown_path_gets_anthropic_error(client: httpx.Client) -> None:
    _assert_error(client.get("/v1/nope"), 404, "not_found_error")


def test_streaming_event_sequence_and_usage(client: httpx.Client) -> None:
    body = _body(_user("Say hello to the offline world."), stream=True)
    response, events = _stream(client, body)
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


def test_non_streaming_json(client: httpx.Client) -> None:
    body = _body(_user("x" * 400))
    response = client.post("/v1/messages", json=body)
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


def test_count_tokens(client: httpx.Client) -> None:
    body = _body(_user("y" * 81), system="s" * 19)
    response = client.post("/v1/messages/count_tokens?beta=true", json=body)
    assert response.status_code == 200
    assert response.json() == {"input_tokens": 25}


def test_query_string_is_ignored_and_recorded(client: httpx.Client) -> None:
    client.delete("/_fake/requests")
    response = client.post("/v1/messages?beta=true", json=_body(_user("hi")))
    assert response.status_code == 200
    log = client.get("/_fake/requests").json()
    assert log["count"] == 1
    assert log["requests"][0]["path"] == "/v1/messages"
    assert log["requests"][0]["query"] == "beta=true"


def test_tolerates_claude_code_shaped_requests(client: httpx.Client) -> None:
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
    assert count_text_chars(body) == 10 + 20 + 30 + 40 + 50 + 60 + 70 + 80
    _, events = _stream(client, body)
    assert _names(events)[-1] == "message_stop"
    assert events[-2][1]["usage"]["input_tokens"] == 360 // 4


def test_large_body(client: httpx.Client) -> None:
    body = _body(
        _user("z" * 60_000),
        stream=True,
        tools=[{"name": f"t{i}", "description": "w" * 100} for i in range(50)],
    )
    assert len(json.dumps(body)) > 60_000
    _, events = _stream(client, body)
    assert events[-2][1]["usage"]["input_tokens"] == 15_000


def test_invalid_requests(client: httpx.Client) -> None:
    bad_json = client.post("/v1/messages", content=b"{not json", headers={"content-type": "application/json"})
    _assert_error(bad_json, 400, "invalid_request_error")
    _assert_error(client.post("/v1/messages", json={"messages": []}), 400, "invalid_request_error")
    _assert_error(client.post("/v1/messages", json={"model": MODEL}), 400, "invalid_request_error")
    _assert_error(client.post("/v1/messages", json=[1, 2]), 400, "invalid_request_error")
    _assert_error(
        client.post("/v1/messages/count_tokens", json={"model": MODEL}), 400, "invalid_request_error"
    )
    bad_directive = client.post("/v1/messages", json=_body(_user("[[usage out=many]]")))
    assert "usage directive" in _assert_error(bad_directive, 400, "invalid_request_error")["error"]["message"]


# --------------------------------------------------------------------------- usage rules


def test_usage_directive_overrides_and_sets_reply_length(client: httpx.Client) -> None:
    prompt = [
        {"type": "text", "text": "<system-reminder>ignore</system-reminder>"},
        {"type": "text", "text": "hello [[usage in=120 out=30 cache_read=40 cache_write=8]]"},
    ]
    body = _body(_user(prompt), stream=True)
    _, events = _stream(client, body)
    expected = {
        "input_tokens": 120,
        "output_tokens": 30,
        "cache_creation_input_tokens": 8,
        "cache_read_input_tokens": 40,
    }
    assert events[-2][1]["usage"] == expected == compute_usage(body, 24)
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert len(text.split()) == 30
    count = client.post("/v1/messages/count_tokens", json=body)
    assert count.json() == {"input_tokens": 120}


def test_usage_directive_subset(client: httpx.Client) -> None:
    message = client.post("/v1/messages", json=_body(_user("k" * 40 + " [[usage out=3]]"))).json()
    assert message["content"][0]["text"] == "Hello from the"
    assert message["usage"]["output_tokens"] == 3
    assert message["usage"]["input_tokens"] == len("k" * 40 + " [[usage out=3]]") // 4


def test_directive_only_counts_in_last_user_message() -> None:
    earlier = _user("[[usage out=7]] [[fault:500]]")
    body = _body(earlier, {"role": "assistant", "content": "ok"}, _user("plain"))
    assert parse_directives(body).fault is None
    assert compute_usage(body, 5)["output_tokens"] == 5


def test_cache_control_detection(client: httpx.Client) -> None:
    system = [{"type": "text", "text": "q" * 400, "cache_control": {"type": "ephemeral"}}]
    cached = client.post("/v1/messages", json=_body(_user("r" * 400), system=system)).json()
    assert cached["usage"] == {
        "input_tokens": 200,
        "output_tokens": 24,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 150,
    }
    plain = client.post("/v1/messages", json=_body(_user("r" * 400), system="q" * 400)).json()
    assert plain["usage"]["cache_read_input_tokens"] == plain["usage"]["cache_creation_input_tokens"] == 0
    # Cache numbers follow an overridden input count.
    overridden = _body(_user([{"type": "text", "text": "[[usage in=1000]]", "cache_control": {}}]))
    assert compute_usage(overridden, 24)["cache_read_input_tokens"] == 750


def test_empty_request_still_has_one_input_token() -> None:
    assert compute_usage({"model": MODEL, "messages": []}, 0) == {
        "input_tokens": 1,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "text", "content", "role", "cache_control", "x"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(_json, max_size=5), system=_json, reply_words=st.integers(0, 50))
def test_compute_usage_never_crashes_on_odd_json(messages: list[Any], system: Any, reply_words: int) -> None:
    body = {"model": MODEL, "messages": messages, "system": system}
    try:
        usage = compute_usage(body, reply_words)
    except DirectiveError:
        return
    assert set(usage) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    assert usage["input_tokens"] >= 1 and min(usage.values()) >= 0


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="abc xyz\n", max_size=200), max_size=6), reply_words=st.integers(0, 40)
)
def test_compute_usage_counts_characters(texts: list[str], reply_words: int) -> None:
    body = _body(*(_user(text) for text in texts))
    assert compute_usage(body, reply_words) == {
        "input_tokens": max(1, sum(map(len, texts)) // 4),
        "output_tokens": reply_words,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


# --------------------------------------------------------------------------- tool round trip


def test_tool_round_trip(client: httpx.Client) -> None:
    prompt = [
        {"type": "text", "text": "<system-reminder>context</system-reminder>"},
        {"type": "text", "text": 'List the docs [[tool:Glob {"pattern":"*.md"}]]'},
    ]
    first = _body(_user(prompt), stream=True)
    _, events = _stream(client, first)
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
    reply = client.post("/v1/messages", json=second).json()
    assert reply["content"] == [{"type": "text", "text": "Tool result received: done."}]
    assert reply["stop_reason"] == "end_turn"
    assert reply["usage"]["output_tokens"] == 4


def test_tool_directive_without_json_non_streaming(client: httpx.Client) -> None:
    reply = client.post("/v1/messages", json=_body(_user("go [[tool:Bash]]"))).json()
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
]


@pytest.mark.parametrize("via", ["header", "marker"])
@pytest.mark.parametrize(("fault", "status", "error_type", "message"), _FAULTS)
def test_error_faults(
    client: httpx.Client, via: str, fault: str, status: int, error_type: str, message: str | None
) -> None:
    if via == "header":
        response = client.post(
            "/v1/messages", json=_body(_user("hi"), stream=True), headers={"x-fake-fault": fault}
        )
    else:
        response = client.post("/v1/messages", json=_body(_user(f"hi [[fault:{fault}]]"), stream=True))
    payload = _assert_error(response, status, error_type)
    if message is not None:
        assert payload == {"type": "error", "error": {"type": error_type, "message": message}}
    assert response.headers.get("retry-after") == ("1" if status == 429 else None)


def test_unknown_fault_is_rejected(client: httpx.Client) -> None:
    response = client.post("/v1/messages", json=_body(_user("hi")), headers={"x-fake-fault": "explode"})
    _assert_error(response, 400, "invalid_request_error")


def test_drop_cuts_stream_mid_message(client: httpx.Client) -> None:
    received = bytearray()
    body = _body(_user("hi [[fault:drop]]"), stream=True)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        with client.stream("POST", "/v1/messages", json=body) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received.extend(chunk)
    events = _parse_sse(received.decode())
    assert _names(events) == ["message_start", "ping", "content_block_start", "content_block_delta"]
    # The server must still be healthy afterwards.
    assert client.get("/health").status_code == 200


def test_drop_non_streaming_closes_without_response(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        client.post("/v1/messages", json=_body(_user("hi")), headers={"x-fake-fault": "drop"})


def test_timeout_fault_stalls_without_blocking_others(server: Server) -> None:
    outcome: list[BaseException] = []

    def stalled() -> None:
        try:
            httpx.post(f"{server.url}/v1/messages", json=_body(_user("[[fault:timeout]]")), timeout=1.0)
        except httpx.TimeoutException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=stalled)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    ok = httpx.post(f"{server.url}/v1/messages", json=_body(_user("meanwhile")), timeout=5.0)
    assert ok.status_code == 200 and time.monotonic() - started < 0.5
    thread.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.ReadTimeout)


# --------------------------------------------------------------------------- request log


def test_request_log_records_headers_and_bodies(client: httpx.Client) -> None:
    assert client.delete("/_fake/requests").status_code == 200
    body = _body(_user("logged"))
    client.post("/v1/messages", json=body, headers={"X-Session-Marker": "abc", "anthropic-beta": "b1"})
    client.post("/v1/messages/count_tokens", content=b"garbage")
    client.get("/health")  # not an upstream API call: not recorded
    log = client.get("/_fake/requests").json()
    assert log["count"] == 2
    first, second = log["requests"]
    assert first["path"] == "/v1/messages" and first["body"] == body
    assert first["headers"]["x-session-marker"] == "abc" and first["headers"]["anthropic-beta"] == "b1"
    assert second["path"] == "/v1/messages/count_tokens" and second["body"] is None
    client.delete("/_fake/requests")
    assert client.get("/_fake/requests").json()["count"] == 0


def test_request_log_keeps_last_200(client: httpx.Client) -> None:
    client.delete("/_fake/requests")
    for i in range(205):
        client.post("/v1/messages/count_tokens", json=_body(_user(str(i))))
    log = client.get("/_fake/requests").json()
    assert log["count"] == 200
    assert log["requests"][0]["body"]["messages"][0]["content"] == "5"


# --------------------------------------------------------------------------- process & embedding


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_exits_cleanly_on_signal_with_stalled_request(sig: signal.Signals) -> None:
    srv = _start()
    errors: list[BaseException] = []

    def stalled() -> None:
        try:
            httpx.post(f"{srv.url}/v1/messages", json=_body(_user("[[fault:timeout]]")), timeout=10.0)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=stalled)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    code, err = _stop(srv.proc, sig)
    elapsed = time.monotonic() - started
    thread.join(5)
    assert code == 0, err
    assert elapsed < 1.5
    assert "Traceback" not in err, err
    assert len(errors) == 1  # the stalled client was cut loose, not answered


def test_create_app_embeds_with_think_time_and_sizes() -> None:
    app = create_app(think_ms=150, reply_words=5, chunk_words=2)

    async def run() -> tuple[float, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
            started = time.monotonic()
            response = await http.post("/v1/messages", json=_body(_user("hi"), stream=True))
            return time.monotonic() - started, response

    elapsed, response = asyncio.run(run())
    assert elapsed >= 0.15
    deltas = [
        data["delta"]["text"] for name, data in _parse_sse(response.text) if name == "content_block_delta"
    ]
    assert deltas == ["Hello from", " the offline", " fake"]
    with pytest.raises(ValueError):
        create_app(chunk_words=0)
