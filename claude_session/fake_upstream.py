"""Fake Anthropic Messages API server for offline demos, tests and benchmarks.

These machines have no internet, so the proxy under test (Claude Code -> patched
LiteLLM -> Anthropic) is pointed at this server instead of api.anthropic.com. It
speaks enough of the Messages API for the real Claude Code CLI to hold a
conversation, including one tool round trip, and every number it returns is a
deterministic function of the request so tests can predict it:

* ``POST /v1/messages`` answers with JSON or with the exact Anthropic SSE event
  sequence (``"stream": true``); ``POST /v1/messages/count_tokens`` counts.
* Usage comes from :func:`compute_usage` (characters // 4, cache numbers when a
  ``cache_control`` key is present), overridable with a directive in the last
  user message: ``[[usage in=120 out=30 cache_read=40 cache_write=8]]``.
* ``[[tool:NAME {json}]]`` in the last user message makes the reply a
  ``tool_use`` block; a following message carrying a ``tool_result`` is
  acknowledged with ``Tool result received: done.``.
* Faults are injected with the ``x-fake-fault`` header or ``[[fault:VALUE]]``:
  ``400``, ``429``, ``500``, ``529``, ``timeout`` (stall 300 s) and ``drop``
  (cut the connection mid-stream, or before any response when not streaming).
* ``GET /_fake/requests`` shows the last 200 requests that reached
  ``/v1/messages*``; ``DELETE /_fake/requests`` clears them.

Run it with ``python -m claude_session.fake_upstream [--host 127.0.0.1]
[--port 8089] [--think-ms 0] [--reply-words 24] [--chunk-words 4]
[--log-level warning]`` or embed :func:`create_app` in another ASGI server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import socket
import sys
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8089
REQUEST_LOG_SIZE: Final = 200
# Real requests from Claude Code are a few hundred KB; refuse only absurd bodies.
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
TIMEOUT_FAULT_SECONDS: Final = 300.0
TOOL_PREAMBLE: Final = "Let me check."
TOOL_ACK: Final = "Tool result received: done."
# Stands in for the tokens of the tool_use block itself in output_tokens.
TOOL_USE_TOKENS: Final = 10
TOOL_JSON_CHUNK_CHARS: Final = 16

_REPLY_VOCABULARY: Final = (
    "Hello from the offline fake Anthropic upstream. This reply is synthetic and deterministic, "
    "so demos, tests and benchmarks run without any network access."
).split()

_USAGE_KEYS: Final = {"in", "out", "cache_read", "cache_write"}
_USAGE_RE: Final = re.compile(r"\[\[usage\b([^\]]*)\]\]")
_FAULT_RE: Final = re.compile(r"\[\[fault:\s*([^\]\s]+)\s*\]\]")
_TOOL_RE: Final = re.compile(r"\[\[tool:([A-Za-z0-9_.:-]+)")

# status, Anthropic error type, message
_ERROR_FAULTS: Final[dict[str, tuple[int, str, str]]] = {
    "400": (400, "invalid_request_error", "fake invalid request"),
    "429": (429, "rate_limit_error", "fake rate limit"),
    "500": (500, "api_error", "fake internal server error"),
    "529": (529, "overloaded_error", "Overloaded"),
}
_FLOW_FAULTS: Final = {"timeout", "drop"}

ReplyKind = Literal["text", "tool_use", "tool_ack"]


class DirectiveError(ValueError):
    """A ``[[...]]`` directive in the prompt is malformed (answered with a 400)."""


# --------------------------------------------------------------------------- request text


def _block_text(block: Any) -> str | None:
    """The text of a ``text`` block, or None for anything else."""
    if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
        return block["text"]
    return None


def _tool_result_texts(block: dict[str, Any]) -> list[str]:
    # tool_result content is either a plain string or a list of (text, image...) blocks.
    content = block.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [text for item in content if (text := _block_text(item)) is not None]
    return []


def _content_texts(content: Any, *, include_tool_results: bool) -> list[str]:
    """Texts of a message's content (string or block list); other block types are ignored."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    texts: list[str] = []
    for block in content:
        text = _block_text(block)
        if text is not None:
            texts.append(text)
        elif include_tool_results and isinstance(block, dict) and block.get("type") == "tool_result":
            texts.extend(_tool_result_texts(block))
    return texts


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    # Tolerate junk entries so usage never crashes on odd (but JSON) input.
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [message for message in messages if isinstance(message, dict)]


def count_text_chars(body: dict[str, Any]) -> int:
    """Characters of all text in ``system`` and in every message (incl. tool results)."""
    texts = _content_texts(body.get("system"), include_tool_results=False)
    for message in _messages(body):
        texts.extend(_content_texts(message.get("content"), include_tool_results=True))
    return sum(len(text) for text in texts)


def _last_user_message(body: dict[str, Any]) -> dict[str, Any] | None:
    for message in reversed(_messages(body)):
        if message.get("role") == "user":
            return message
    return None


def _has_tool_result(message: dict[str, Any] | None) -> bool:
    content = message.get("content") if message else None
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def contains_key(value: Any, key: str) -> bool:
    """Whether ``key`` appears as a dict key anywhere inside ``value``."""
    # Iterative walk: request bodies can nest deeply and recursion would be the slow part.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if key in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# --------------------------------------------------------------------------- directives


@dataclass(frozen=True)
class Directives:
    """What the last user message asks of the fake (``[[usage]]``, ``[[tool]]``, ``[[fault]]``)."""

    usage: dict[str, int] = field(default_factory=dict)
    tool: tuple[str, dict[str, Any]] | None = None
    fault: str | None = None


def _parse_usage(spec: str) -> dict[str, int]:
    usage: dict[str, int] = {}
    for item in spec.split():
        key, sep, value = item.partition("=")
        # Strict on purpose: a silently ignored typo would make a test pass for the wrong reason.
        if not sep or key not in _USAGE_KEYS or not value.isdigit():
            raise DirectiveError(
                f"bad usage directive item {item!r}; expected in/out/cache_read/cache_write=N"
            )
        usage[key] = int(value)
    return usage


def _parse_tool(text: str, match: re.Match[str]) -> tuple[str, dict[str, Any]]:
    # The JSON may itself contain "]]", so decode it instead of regex-matching up to "]]".
    pos = match.end()
    while pos < len(text) and text[pos].isspace():
        pos += 1
    tool_input: Any = {}
    if not text.startswith("]]", pos):
        try:
            tool_input, pos = json.JSONDecoder().raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DirectiveError(f"bad JSON in tool directive: {exc.msg}") from None
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not isinstance(tool_input, dict) or not text.startswith("]]", pos):
        raise DirectiveError("tool directive must look like [[tool:NAME {json object}]]")
    return match.group(1), tool_input


def parse_directives(body: dict[str, Any]) -> Directives:
    """Directives found in the text blocks of the last user message (later ones win).

    Claude Code prepends system reminders as extra text blocks to the user's
    prompt, so every text block is searched, not just the first.
    """
    message = _last_user_message(body)
    texts = _content_texts(message.get("content"), include_tool_results=False) if message else []
    usage: dict[str, int] = {}
    tool: tuple[str, dict[str, Any]] | None = None
    fault: str | None = None
    for text in texts:
        for usage_match in _USAGE_RE.finditer(text):
            usage.update(_parse_usage(usage_match.group(1)))
        for tool_match in _TOOL_RE.finditer(text):
            tool = _parse_tool(text, tool_match)
        for fault_match in _FAULT_RE.finditer(text):
            fault = fault_match.group(1).lower()
    return Directives(usage=usage, tool=tool, fault=fault)


# --------------------------------------------------------------------------- reply planning


@dataclass(frozen=True)
class ReplyPlan:
    """The reply the fake will give, minus random ids; a pure function of the request."""

    kind: ReplyKind
    text: str
    stop_reason: str
    usage: dict[str, int]
    tool_name: str | None = None
    tool_input: dict[str, Any] = field(default_factory=dict)


def reply_text(words: int) -> str:
    """``words`` words cycled from a fixed sentence (exactly ``words`` whitespace-separated words)."""
    vocabulary = _REPLY_VOCABULARY
    return " ".join(vocabulary[i % len(vocabulary)] for i in range(words))


def _choose_reply(body: dict[str, Any], directives: Directives, reply_words: int) -> tuple[ReplyKind, str]:
    # A tool_result always means "second leg of a tool round trip": acknowledge it, never loop.
    if _has_tool_result(_last_user_message(body)):
        return "tool_ack", TOOL_ACK
    if directives.tool is not None:
        return "tool_use", TOOL_PREAMBLE
    return "text", reply_text(directives.usage.get("out", reply_words))


def _usage_numbers(
    body: dict[str, Any], directives: Directives, kind: ReplyKind, text: str
) -> dict[str, int]:
    overrides = directives.usage
    input_tokens = overrides.get("in", max(1, count_text_chars(body) // 4))
    cached = contains_key(body, "cache_control")
    # Cache numbers derive from the final input_tokens, so [[usage in=N]] alone stays consistent.
    cache_read = overrides.get("cache_read", input_tokens * 3 // 4 if cached else 0)
    cache_write = overrides.get("cache_write", input_tokens // 10 if cached else 0)
    words = len(text.split())
    default_out = 1 + words + TOOL_USE_TOKENS if kind == "tool_use" else words
    return {
        "input_tokens": input_tokens,
        "output_tokens": overrides.get("out", default_out),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def plan_reply(body: dict[str, Any], reply_words: int, directives: Directives | None = None) -> ReplyPlan:
    """Decide the reply content, stop reason and usage for a request body.

    Raises :class:`DirectiveError` when a directive in the last user message is malformed.
    """
    directives = parse_directives(body) if directives is None else directives
    kind, text = _choose_reply(body, directives, reply_words)
    usage = _usage_numbers(body, directives, kind, text)
    if kind == "tool_use" and directives.tool is not None:
        name, tool_input = directives.tool
        return ReplyPlan(kind, text, "tool_use", usage, tool_name=name, tool_input=tool_input)
    return ReplyPlan(kind, text, "end_turn", usage)


def compute_usage(body: dict[str, Any], reply_words: int) -> dict[str, int]:
    """The usage block the fake reports for ``body`` (see the module docstring for the rules)."""
    return plan_reply(body, reply_words).usage


def _fake_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def build_message(plan: ReplyPlan, model: str) -> dict[str, Any]:
    """The non-streaming Messages API response for ``plan`` (ids are random)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": plan.text}]
    if plan.kind == "tool_use":
        content.append(
            {
                "type": "tool_use",
                "id": _fake_id("toolu_fake_"),
                "name": plan.tool_name,
                "input": plan.tool_input,
            }
        )
    return {
        "id": _fake_id("msg_fake_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": plan.stop_reason,
        "stop_sequence": None,
        "usage": dict(plan.usage),
    }


# --------------------------------------------------------------------------- SSE


def _text_chunks(text: str, chunk_words: int) -> list[str]:
    # Chunks keep their leading space so that concatenating the deltas gives back the text.
    words = text.split(" ")
    chunks = [" ".join(words[i : i + chunk_words]) for i in range(0, len(words), chunk_words)]
    return [chunk if i == 0 else " " + chunk for i, chunk in enumerate(chunks)]


def _block_events(
    index: int, block: dict[str, Any], chunk_words: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    if block["type"] == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        raw = json.dumps(block["input"], separators=(",", ":"))
        pieces = [raw[i : i + TOOL_JSON_CHUNK_CHARS] for i in range(0, len(raw), TOOL_JSON_CHUNK_CHARS)]
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": chunk} for chunk in _text_chunks(block["text"], chunk_words)]
    yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def stream_events(message: dict[str, Any], chunk_words: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Anthropic SSE event sequence (name, data) that streams ``message``."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block, chunk_words)
    # Like the real API, the final usage repeats the input and cache counts.
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": dict(usage)}
    yield "message_stop", {"type": "message_stop"}


def format_sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


# --------------------------------------------------------------------------- HTTP helpers


def _request_id() -> str:
    return _fake_id("req_fake_")


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error_body(error_type, message),
        status_code=status,
        headers={"request-id": _request_id(), **(headers or {})},
    )


def _fault_response(fault: str) -> JSONResponse:
    status, error_type, message = _ERROR_FAULTS[fault]
    # Clients (Claude Code's SDK included) honour retry-after on 429.
    extra = {"retry-after": "1"} if status == 429 else None
    return _error(status, error_type, message, extra)


def _validate(body: Any) -> str | None:
    """Why the body is not a Messages request, or None when it is acceptable."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("messages"), list):
        return "messages: Field required"
    return None


def _uvicorn_cycle(request: Request) -> Any | None:
    # uvicorn's receive is a bound method of its per-request cycle, which owns the transport and
    # the disconnect flag. That is the only way to drop a connection without a 500 being sent.
    cycle = getattr(request.receive, "__self__", None)
    if hasattr(cycle, "transport") and hasattr(cycle, "disconnected"):
        return cycle
    return None


async def _wait_disconnected(cycle: Any) -> None:
    # connection_lost runs on a later loop iteration; bound the wait so a quirk can't hang us.
    for _ in range(200):
        if cycle.disconnected:
            return
        await asyncio.sleep(0.005)


class InjectedDrop(Exception):
    """Raised to cut a connection when the server is not uvicorn (no transport to close)."""


async def _drop_connection(request: Request) -> None:
    """Close the client connection abruptly; later ASGI sends become no-ops."""
    cycle = _uvicorn_cycle(request)
    if cycle is None:
        raise InjectedDrop("fake upstream dropped the connection")
    cycle.transport.close()
    await _wait_disconnected(cycle)


async def _wait_for_client_disconnect(request: Request) -> None:
    # The body is already read, so the next receive() only returns once the client leaves.
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.05)


async def _race(*aws: Any) -> int:
    """Run awaitables until the first finishes; cancel the rest; return the winner's index."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        # Reap the losers so no "Task was destroyed but it is pending" warnings appear.
        await asyncio.gather(*tasks, return_exceptions=True)
    return next(i for i, task in enumerate(tasks) if task in done)


def _headers_dict(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _read_json(request: Request) -> tuple[Any, bool, bool]:
    """(parsed body or None, whether it parsed, whether it was too large)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None, False, True
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return None, False, True
    try:
        return json.loads(raw), True, False
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, False, False


# --------------------------------------------------------------------------- the app


class FakeUpstream:
    """State and endpoints of one fake server (one per :func:`create_app` call)."""

    def __init__(self, think_ms: float, reply_words: int, chunk_words: int) -> None:
        self.think_ms = think_ms
        self.reply_words = reply_words
        self.chunk_words = chunk_words
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.total_requests = 0
        # Set on shutdown so stalled "timeout" requests let go instead of blocking exit.
        self.shutting_down = asyncio.Event()

    # -- bookkeeping

    def _record(self, request: Request, body: Any) -> None:
        self.total_requests += 1
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": _headers_dict(request),
                "body": body,
            }
        )

    async def _parse(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        """Read, record and validate a /v1/messages* body; returns (body, error response)."""
        body, parsed, too_large = await _read_json(request)
        self._record(request, body)
        if too_large:
            return None, _error(
                413, "request_too_large", f"Request exceeds the maximum size of {MAX_BODY_BYTES}"
            )
        if not parsed:
            return None, _error(
                400, "invalid_request_error", "There was an error parsing the body: invalid JSON"
            )
        problem = _validate(body)
        if problem is not None:
            return None, _error(400, "invalid_request_error", problem)
        return body, None

    # -- endpoints

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "fake-anthropic"})

    async def list_requests(self, request: Request) -> Response:
        items = list(self.requests)
        return JSONResponse({"count": len(items), "total": self.total_requests, "requests": items})

    async def clear_requests(self, request: Request) -> Response:
        cleared = len(self.requests)
        self.requests.clear()
        self.total_requests = 0
        return JSONResponse({"cleared": cleared})

    async def count_tokens(self, request: Request) -> Response:
        body, problem = await self._parse(request)
        if body is None:
            return problem or _error(400, "invalid_request_error", "invalid request")
        try:
            usage = compute_usage(body, self.reply_words)
        except DirectiveError as exc:
            return _error(400, "invalid_request_error", str(exc))
        return JSONResponse({"input_tokens": usage["input_tokens"]}, headers={"request-id": _request_id()})

    async def messages(self, request: Request) -> Response:
        body, problem = await self._parse(request)
        if body is None:
            return problem or _error(400, "invalid_request_error", "invalid request")
        try:
            directives = parse_directives(body)
            plan = plan_reply(body, self.reply_words, directives)
        except DirectiveError as exc:
            return _error(400, "invalid_request_error", str(exc))
        fault = (request.headers.get("x-fake-fault") or directives.fault or "").strip().lower() or None
        if fault in _ERROR_FAULTS:
            return _fault_response(fault)
        if fault is not None and fault not in _FLOW_FAULTS:
            return _error(400, "invalid_request_error", f"unknown fake fault {fault!r}")
        early = await self._delay(request, fault)
        if early is not None:
            return early
        message = build_message(plan, body["model"])
        if body.get("stream") is True:
            return self._stream(request, message, drop=fault == "drop")
        if fault == "drop":
            await _drop_connection(request)
            return Response(status_code=204)  # never reaches the client: the connection is gone
        return JSONResponse(message, headers={"request-id": _request_id()})

    async def _delay(self, request: Request, fault: str | None) -> Response | None:
        """Think time, or the 300 s stall of the timeout fault; a Response means "stop here"."""
        if fault != "timeout":
            if self.think_ms > 0:
                await asyncio.sleep(self.think_ms / 1000)
            return None
        winner = await _race(
            asyncio.sleep(TIMEOUT_FAULT_SECONDS),
            _wait_for_client_disconnect(request),
            self.shutting_down.wait(),
        )
        if winner == 0:
            return None
        if winner == 2:
            # Shutting down: cut the stalled client loose so graceful shutdown is immediate.
            await _drop_connection(request)
        return Response(status_code=204)  # the client is gone; uvicorn discards this

    def _stream(self, request: Request, message: dict[str, Any], *, drop: bool) -> Response:
        headers = {"request-id": _request_id(), "cache-control": "no-cache"}
        return StreamingResponse(
            self._sse(request, message, drop), media_type="text/event-stream", headers=headers
        )

    async def _sse(self, request: Request, message: dict[str, Any], drop: bool) -> AsyncIterator[str]:
        # One yield per event so clients really receive them incrementally.
        for count, (name, data) in enumerate(stream_events(message, self.chunk_words), start=1):
            yield format_sse(name, data)
            # message_start, ping, content_block_start, one delta: then vanish mid-message.
            # The generator only resumes once the previous event was written, so nothing is lost.
            if drop and count == 4:
                await _drop_connection(request)
                return

    def begin_shutdown(self) -> None:
        self.shutting_down.set()


async def _http_error(request: Request, exc: Exception) -> Response:
    # Anthropic-style envelopes for Starlette's own 404/405 too, so clients parse every error.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error_type = {404: "not_found_error", 405: "invalid_request_error"}.get(status, "api_error")
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return _error(status, error_type, str(detail))


def create_app(think_ms: float = 0, reply_words: int = 24, chunk_words: int = 4) -> Starlette:
    """A fresh fake Anthropic app; its :class:`FakeUpstream` is at ``app.state.fake_upstream``."""
    if think_ms < 0 or reply_words < 0 or chunk_words < 1:
        raise ValueError("need think_ms >= 0, reply_words >= 0 and chunk_words >= 1")
    fake = FakeUpstream(think_ms, reply_words, chunk_words)
    routes = [
        Route("/", fake.health, methods=["GET", "HEAD"]),
        Route("/health", fake.health, methods=["GET", "HEAD"]),
        Route("/v1/messages", fake.messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", fake.count_tokens, methods=["POST"]),
        Route("/_fake/requests", fake.list_requests, methods=["GET"]),
        Route("/_fake/requests", fake.clear_requests, methods=["DELETE"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.fake_upstream = fake
    return app


# --------------------------------------------------------------------------- runner


class _Server(uvicorn.Server):
    """uvicorn.Server that also releases stalled requests when asked to exit."""

    def __init__(self, config: uvicorn.Config, fake: FakeUpstream) -> None:
        super().__init__(config)
        self._fake = fake
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.wake_stalled()

    def wake_stalled(self) -> None:
        # Signal handlers run between bytecodes; hop onto the loop thread-safely.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fake.begin_shutdown)

    async def serve_announced(self, sock: socket.socket, url: str) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(self.serve(sockets=[sock]))
        while not self.started and not task.done():
            await asyncio.sleep(0.01)
        if self.started:
            print(f"fake upstream listening on {url}", flush=True)
        await task


def _bind(host: str, port: int) -> socket.socket:
    # Binding here (not in uvicorn) lets --port 0 work and the announced port be the real one.
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m claude_session.fake_upstream", description="Fake Anthropic Messages API server."
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--think-ms", type=float, default=0.0, help="delay before the first byte")
    parser.add_argument("--reply-words", type=int, default=24, help="words in a default reply")
    parser.add_argument("--chunk-words", type=int, default=4, help="words per streamed text delta")
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug", "trace"]
    )
    args = parser.parse_args(argv)
    if args.think_ms < 0 or args.reply_words < 0 or args.chunk_words < 1:
        parser.error("need --think-ms >= 0, --reply-words >= 0 and --chunk-words >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    app = create_app(args.think_ms, args.reply_words, args.chunk_words)
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"fake upstream: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
        # Bounds shutdown even if some client holds a connection open.
        timeout_graceful_shutdown=1,
    )
    server = _Server(config, app.state.fake_upstream)

    def exit_quietly(sig: int, frame: FrameType | None) -> None:
        # uvicorn restores and re-raises the previous handler after shutdown; making that handler
        # ours (instead of the default one) turns SIGTERM/SIGINT into a clean exit status 0.
        server.should_exit = True
        server.wake_stalled()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, exit_quietly)
    with contextlib.closing(sock), asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(server.serve_announced(sock, _url(sock)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
