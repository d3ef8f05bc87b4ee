"""Per-request session tracking for the LiteLLM proxy.

Installed on LiteLLM's proxy app (patches 0003 and 0004, through the overlay). Two pieces:

- `SessionMetadataMiddleware`, an ASGI middleware installed on the proxy app, reads
  the `x-session-tracking-*` headers (and Claude Code's `x-claude-code-session-id`
  and gateway hint headers, see gateway_hints: an invalid hint is dropped, not refused),
  refuses a bad value with a 400, and keeps the request's session in a context
  variable for the duration of the request, next to the proxy-wide session as it was
  when the request arrived (`metadata.pinned_defaults`). On the way it refuses, with a
  400, the other x-* headers stock LiteLLM would turn into a 500: a non-ASCII value (it is
  forwarded upstream, where the HTTP client refuses it) or a non-numeric
  x-litellm-timeout / -stream-timeout / -num-retries, and an id header LiteLLM makes its trace
  or session id (`x-claude-code-session-id` and the like) longer than 128 characters. A
  Messages request body that is not a JSON object, or has no `model`, gets Anthropic's 400
  too (see request_body).
- `tag_request`, called at the start of the proxy's pre-call hook (which every
  LLM route runs, pass-through included), copies that session into the request's
  metadata as `requester_metadata`, where logging picks it up.

A context variable is used because the pre-call hook receives the request body,
not the HTTP request; both run in the request's own task.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from claude_session.core import fields, gateway_hints
from claude_session.proxy import metadata, request_body, warmup
from claude_session.proxy.proxy_wide import ProxyWideEndpoint
from claude_session.proxy.settings import proxy_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_request_session: ContextVar[dict[str, str] | None] = ContextVar("claude_session_request", default=None)

_SESSION_HEADERS = frozenset(name.encode("latin-1") for name in fields.FIELD_BY_HEADER)
_WATCHED = (
    _SESSION_HEADERS
    | {fields.CLAUDE_CODE_HEADER.encode("latin-1")}
    | {name.encode("latin-1") for name in gateway_hints.HEADERS}  # dropped if invalid, never refused
)


def current_session() -> dict[str, str] | None:
    """The session of the request being served, if it sent one."""
    return _request_session.get()


class SessionMetadataMiddleware:
    """Reads the session headers of each HTTP request (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Warm the worker (LiteLLM's lazy imports) before it takes its first request.
            await self.app(scope, receive, warmup.warm_before_startup_complete(scope, send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            session = _session_from(scope.get("headers", ()))
        except fields.InvalidSessionValue as err:
            await _reject(send, f"invalid session header: {err}")
            return
        except _BadHeader as err:
            await _reject(send, str(err))
            return
        if scope.get("method") == "POST" and scope.get("path") in request_body.MESSAGES_PATHS:
            raw = await _read_body(receive)
            refused = request_body.problem(raw)
            if refused is not None:
                await _reject(send, refused)
                return
            receive = _replay(raw, receive)
        token = _request_session.set(session or None)
        try:
            with metadata.pinned_defaults():
                await self.app(scope, receive, send)
        finally:
            _request_session.reset(token)


class _BadHeader(ValueError):
    """A header LiteLLM would choke on (a 500 further in): refused here with a 400."""


# LiteLLM parses these with a bare float()/int(): a non-number would end as a 500.
_NUMERIC_CONTROLS = frozenset({b"x-litellm-timeout", b"x-litellm-stream-timeout", b"x-litellm-num-retries"})
# Headers LiteLLM takes as the request's trace or session id (x-litellm-trace-id, then
# x-litellm-session-id, any x-<vendor>-session-id such as Claude Code's, x-session-id): it
# puts the value on every span, so one longer than an id is refused, not logged.
_ID_HEADER = re.compile(rb"x-litellm-trace-id|x-(?:[a-z0-9-]+-)?session-id")
MAX_ID_HEADER_CHARS = 128


def _session_from(raw_headers: Any) -> dict[str, str]:
    """The request's session, checking on the way the x-* headers LiteLLM forwards or parses."""
    watched = []
    for name, value in raw_headers:
        if not name.startswith(b"x-"):
            continue
        if name in _SESSION_HEADERS:  # decoded (a name: percent-encoded UTF-8) and validated below
            watched.append((name.decode("latin-1"), value.decode("latin-1")))
            continue
        if not value.isascii():
            # Forwarded upstream as is, where the HTTP client refuses non-ASCII: a 500 otherwise.
            raise _BadHeader(f"header {name.decode('latin-1')}: only ASCII values are accepted")
        if name in _NUMERIC_CONTROLS and not _is_number(value):
            raise _BadHeader(f"header {name.decode()}: must be a number")
        if len(value) > MAX_ID_HEADER_CHARS and _ID_HEADER.fullmatch(name):
            raise _BadHeader(
                f"header {name.decode()}: at most {MAX_ID_HEADER_CHARS} characters (got {len(value)})"
            )
        if name in _WATCHED:
            watched.append((name.decode("latin-1"), value.decode("latin-1")))
    return {**fields.from_headers(watched), **gateway_hints.from_headers(watched)}


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (LiteLLM reads it whole too, before anything is sent upstream)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left: LiteLLM sees an empty body and the disconnect is not replayed
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _is_number(value: bytes) -> bool:
    try:
        return float(value) >= 0
    except ValueError:
        return False


async def _reject(send: Send, message: str) -> None:
    """An Anthropic-style 400: the shape Claude Code and the Anthropic SDKs print."""
    body = json.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"request-id", f"req_session_{secrets.token_hex(6)}".encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def tag_request(data: object) -> None:
    """Put the current request's session into its metadata as requester_metadata.

    `/v1/messages` keeps LiteLLM's own metadata in `litellm_metadata` (the body's
    `metadata` goes to Anthropic, which accepts only `user_id` there); other routes
    use `metadata`. The pass-through route strips both from the upstream body.
    """
    session = current_session()
    if not session or not isinstance(data, dict):
        return
    key = "metadata" if _is_litellm_metadata(data) else "litellm_metadata"
    target = data.setdefault(key, {})
    if not isinstance(target, dict):
        return
    requester = target.get("requester_metadata")
    target["requester_metadata"] = {**(requester if isinstance(requester, dict) else {}), **session}


def _is_litellm_metadata(data: dict[str, Any]) -> bool:
    """Whether data["metadata"] is LiteLLM's own (chat completions) rather than Anthropic's body field."""
    if isinstance(data.get("litellm_metadata"), dict):
        return False
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and "user_api_key" in metadata


def install(app: Any) -> None:
    """Wire claude-session into the proxy app (called once per worker from proxy_server.py).

    Only registered here, at LiteLLM's import: the middleware is built with the app's
    middleware stack, on the worker's first ASGI event (its lifespan), see `_at_worker_start`.
    """
    app.add_middleware(_at_worker_start)


def _at_worker_start(app: ASGIApp) -> ASGIApp:
    """claude-session's middleware around the proxy app, with the settings of the environment
    the worker serves with (not the one LiteLLM was imported with: a process may import it
    first, as the fast tier's in-process proxy does); the extra model prices are registered
    then too.

    Outermost the proxy-wide endpoint, then the per-request session middleware.
    """
    from claude_session.proxy.extra_prices import register_from_env  # imports litellm: not at our import

    register_from_env()
    return ProxyWideEndpoint(
        SessionMetadataMiddleware(app),
        store=metadata.proxy_wide_store(),
        master_key=proxy_settings().master_key,
    )
