"""The fake's ASGI app: Starlette routes, request validation and recording, fault delivery.

One :class:`FakeUpstream` per :func:`create_app` call holds the settings and the request log
(``GET``/``DELETE /_fake/requests``). What to answer is decided by the pure ``messages`` and
``directives`` modules; this module only turns it into HTTP, including the ``timeout`` stall
and the ``drop`` fault, which cuts the client connection.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from typing import Final, Protocol, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from claude_session.testing.fake_upstream import solve, validation
from claude_session.testing.fake_upstream.directives import (
    DirectiveError,
    JsonObject,
    parse_directives,
    requested_fault,
)
from claude_session.testing.fake_upstream.faults import FaultPlan, UnknownFault, answer_headers, plan_fault
from claude_session.testing.fake_upstream.messages import (
    ERROR_FAULTS,
    build_message,
    compute_usage,
    error_body,
    format_sse,
    plan_reply,
    planned_step,
    request_id,
    stream_events,
)

REQUEST_LOG_SIZE: Final = 200
# Real requests from Claude Code are a few hundred KB; refuse only absurd bodies.
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
TIMEOUT_FAULT_SECONDS: Final = 300.0
# Where a streamed reply's drop or pause fault strikes: after message_start, ping,
# content_block_start and one text delta. Drop cuts the connection there; pause holds the
# reply PAUSE_SECONDS (unless create_app says otherwise), then completes it (a request really
# in flight at the proxy: its reply not yet ended, nor logged).
STREAM_FAULT_AFTER_EVENTS: Final = 4
PAUSE_SECONDS: Final = 4.0


# --------------------------------------------------------------------------- HTTP helpers


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    # Anthropic's headers on every answer: clients (Claude Code's SDK included) honour
    # retry-after and x-should-retry on 429, 5xx and 529.
    return JSONResponse(
        error_body(error_type, message), status_code=status, headers=answer_headers(request_id(), status)
    )


def _fault_response(fault: str) -> JSONResponse:
    status, error_type, message = ERROR_FAULTS[fault]
    return _error(status, error_type, message)


def _headers_dict(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _read_json(request: Request) -> tuple[object, bool, bool]:
    """(parsed body or None, whether it parsed, whether it was too large)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None, False, True
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return None, False, True
    try:
        body: object = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, False, False
    return body, True, False


# --------------------------------------------------------------------------- connection control


class _UvicornCycle(Protocol):
    """The parts of uvicorn's per-request cycle object that dropping a connection needs."""

    @property
    def transport(self) -> asyncio.BaseTransport: ...

    @property
    def disconnected(self) -> bool: ...


class InjectedDrop(Exception):
    """Raised to cut a connection when the server is not uvicorn (no transport to close)."""


def _uvicorn_cycle(request: Request) -> _UvicornCycle | None:
    # uvicorn's receive is a bound method of its per-request cycle, which owns the transport and
    # the disconnect flag. That is the only way to drop a connection without a 500 being sent.
    cycle: object = getattr(request.receive, "__self__", None)
    if hasattr(cycle, "transport") and hasattr(cycle, "disconnected"):
        return cast(_UvicornCycle, cycle)
    return None


async def _wait_disconnected(cycle: _UvicornCycle) -> None:
    # connection_lost runs on a later loop iteration; bound the wait so a quirk can't hang us.
    for _ in range(200):
        if cycle.disconnected:
            return
        await asyncio.sleep(0.005)


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


async def _race(*aws: Awaitable[object]) -> int:
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


# --------------------------------------------------------------------------- the app


class FakeUpstream:
    """State and endpoints of one fake server (one per :func:`create_app` call)."""

    def __init__(
        self,
        think_ms: float,
        reply_words: int,
        chunk_words: int,
        timeout_fault_seconds: float = TIMEOUT_FAULT_SECONDS,
        pause_seconds: float | None = None,
    ) -> None:
        self.think_ms = think_ms
        self.reply_words = reply_words
        self.chunk_words = chunk_words
        self.timeout_fault_seconds = timeout_fault_seconds
        self.pause_seconds = pause_seconds  # None: PAUSE_SECONDS
        self.requests: deque[JsonObject] = deque(maxlen=REQUEST_LOG_SIZE)
        self.total_requests = 0
        # Attempts seen per (conversation, fault) for the "NNNxK" faults.
        self.fault_attempts: dict[tuple[str, str], int] = {}
        # Set on shutdown so stalled "timeout" requests let go instead of blocking exit.
        self.shutting_down = asyncio.Event()

    # -- bookkeeping

    def _record(self, request: Request, body: object) -> None:
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

    async def _parse(self, request: Request, needs_max_tokens: bool = True) -> JsonObject | Response:
        """Read, record and validate a /v1/messages* body; returns the body or an error response."""
        body, parsed, too_large = await _read_json(request)
        self._record(request, body)
        if too_large:
            return _error(413, "request_too_large", f"Request exceeds the maximum size of {MAX_BODY_BYTES}")
        if not parsed:
            return _error(400, "invalid_request_error", "There was an error parsing the body: invalid JSON")
        problem = validation.problem(body, needs_max_tokens=needs_max_tokens)
        if problem is not None or not isinstance(body, dict):
            return _error(400, "invalid_request_error", problem or "request body must be a JSON object")
        return body

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
        self.fault_attempts.clear()
        return JSONResponse({"cleared": cleared})

    async def count_tokens(self, request: Request) -> Response:
        body = await self._parse(request, needs_max_tokens=False)
        if isinstance(body, Response):
            return body
        try:
            usage = compute_usage(body, self.reply_words)
        except DirectiveError as exc:
            return _error(400, "invalid_request_error", str(exc))
        return JSONResponse({"input_tokens": usage["input_tokens"]}, headers=answer_headers(request_id()))

    async def messages(self, request: Request) -> Response:
        body = await self._parse(request)
        if isinstance(body, Response):
            return body
        try:
            directives = parse_directives(body)
            step = solve.next_step(body, request.headers.get(solve.SESSION_HEADER))
            if step is not None:
                plan = planned_step(body, directives, step.text, step.tool)
            else:
                plan = plan_reply(body, self.reply_words, directives)
        except DirectiveError as exc:
            return _error(400, "invalid_request_error", str(exc))
        requested = requested_fault(request.headers.get("x-fake-fault"), directives)
        try:
            fault_plan = plan_fault(requested) if requested is not None else None
        except UnknownFault as exc:
            return _error(400, "invalid_request_error", str(exc))
        stream = body.get("stream") is True
        if fault_plan is not None and fault_plan.kind != "flow":
            if self._fails_now(request, fault_plan) or (fault_plan.kind == "in_stream" and not stream):
                return _fault_response(fault_plan.name)
        fault = fault_plan.name if fault_plan is not None and fault_plan.kind == "flow" else None
        early = await self._delay(request, fault)
        if early is not None:
            return early
        message = build_message(plan, body["model"])
        if fault_plan is not None and fault_plan.kind == "in_stream":
            return self._stream_then_error(message, fault_plan.name)
        if stream:
            return self._stream(request, message, fault)
        if fault == "drop":
            await _drop_connection(request)
            return Response(status_code=204)  # never reaches the client: the connection is gone
        return JSONResponse(message, headers=answer_headers(request_id()))

    def _fails_now(self, request: Request, fault_plan: FaultPlan) -> bool:
        """Whether this attempt gets the error of an "error" fault ("NNNxK": only the first K)."""
        if fault_plan.kind != "error":
            return False
        if fault_plan.times is None:
            return True
        key = (request.headers.get("x-claude-code-session-id", ""), f"{fault_plan.name}x{fault_plan.times}")
        seen = self.fault_attempts.get(key, 0)
        self.fault_attempts[key] = seen + 1
        return seen < fault_plan.times

    async def _delay(self, request: Request, fault: str | None) -> Response | None:
        """Think time, or the stall of the timeout fault; a Response means "stop here"."""
        if fault != "timeout":
            if self.think_ms > 0:
                await asyncio.sleep(self.think_ms / 1000)
            return None
        winner = await _race(
            asyncio.sleep(self.timeout_fault_seconds),
            _wait_for_client_disconnect(request),
            self.shutting_down.wait(),
        )
        if winner == 0:
            return None
        if winner == 2:
            # Shutting down: cut the stalled client loose so graceful shutdown is immediate.
            await _drop_connection(request)
        return Response(status_code=204)  # the client is gone; uvicorn discards this

    def _stream(self, request: Request, message: JsonObject, fault: str | None) -> Response:
        headers = {**answer_headers(request_id()), "cache-control": "no-cache"}
        return StreamingResponse(
            self._sse(request, message, fault), media_type="text/event-stream", headers=headers
        )

    def _stream_then_error(self, message: JsonObject, fault: str) -> Response:
        """A 200 stream that fails after it started: message_start, ping, then an ``error`` event."""
        _, error_type, text = ERROR_FAULTS[fault]
        events = list(stream_events(message, self.chunk_words))[:2]
        frames = [format_sse(name, data) for name, data in events]
        frames.append(format_sse("error", error_body(error_type, text)))

        async def sse() -> AsyncIterator[str]:
            for frame in frames:
                yield frame

        headers = {**answer_headers(request_id()), "cache-control": "no-cache"}
        return StreamingResponse(sse(), media_type="text/event-stream", headers=headers)

    async def _sse(self, request: Request, message: JsonObject, fault: str | None) -> AsyncIterator[str]:
        # One yield per event so clients really receive them incrementally.
        for count, (name, data) in enumerate(stream_events(message, self.chunk_words), start=1):
            yield format_sse(name, data)
            # The generator only resumes once the previous event was written, so nothing is lost.
            if count != STREAM_FAULT_AFTER_EVENTS:
                continue
            if fault == "drop":
                await _drop_connection(request)
                return
            if fault == "pause":
                # Shutting down ends the pause early (the reply still completes).
                pause = PAUSE_SECONDS if self.pause_seconds is None else self.pause_seconds
                await _race(asyncio.sleep(pause), self.shutting_down.wait())

    def begin_shutdown(self) -> None:
        """Release stalled ``timeout`` requests (their connections are cut)."""
        self.shutting_down.set()


async def _http_error(request: Request, exc: Exception) -> Response:
    # Anthropic-style envelopes for Starlette's own 404/405 too, so clients parse every error.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error_type = {404: "not_found_error", 405: "invalid_request_error"}.get(status, "api_error")
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    return _error(status, error_type, str(detail))


def create_app(
    think_ms: float = 0,
    reply_words: int = 24,
    chunk_words: int = 4,
    *,
    timeout_fault_seconds: float = TIMEOUT_FAULT_SECONDS,
    pause_seconds: float | None = None,
) -> Starlette:
    """A fresh fake Anthropic app; its :class:`FakeUpstream` is at ``app.state.fake_upstream``.

    ``timeout_fault_seconds`` is how long the ``timeout`` fault stalls before answering normally;
    ``pause_seconds`` how long the ``pause`` fault holds a streamed reply after its first text delta
    (None: PAUSE_SECONDS).
    """
    if think_ms < 0 or reply_words < 0 or chunk_words < 1:
        raise ValueError("need think_ms >= 0, reply_words >= 0 and chunk_words >= 1")
    if timeout_fault_seconds < 0 or (pause_seconds is not None and pause_seconds < 0):
        raise ValueError("need timeout_fault_seconds >= 0 and pause_seconds >= 0")
    fake = FakeUpstream(think_ms, reply_words, chunk_words, timeout_fault_seconds, pause_seconds)
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


def fake_of(app: Starlette) -> FakeUpstream:
    """The :class:`FakeUpstream` behind an app made by :func:`create_app` (typed access)."""
    fake: object = getattr(app.state, "fake_upstream", None)
    if not isinstance(fake, FakeUpstream):
        raise TypeError("app was not made by create_app()")
    return fake
