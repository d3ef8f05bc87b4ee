"""Per-request session tracking for the LiteLLM proxy.

Part of the claude-session overlay on LiteLLM (see patches/series). Two pieces:

- `SessionMetadataMiddleware`, an ASGI middleware installed on the proxy app, reads
  the `x-session-tracking-*` headers (and Claude Code's `x-claude-code-session-id`),
  refuses a bad value with a 400, and keeps the request's session in a context
  variable for the duration of the request.
- `tag_request`, called at the start of the proxy's pre-call hook (which every
  LLM route runs, pass-through included), copies that session into the request's
  metadata as `requester_metadata`, where logging picks it up.

A context variable is used because the pre-call hook receives the request body,
not the HTTP request; both run in the request's own task.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from claude_session import fields

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_request_session: ContextVar[dict[str, str] | None] = ContextVar("claude_session_request", default=None)

_WATCHED = frozenset(name.encode("latin-1") for name in (*fields.FIELD_BY_HEADER, fields.CLAUDE_CODE_HEADER))


def current_session() -> dict[str, str] | None:
    """The session of the request being served, if it sent one."""
    return _request_session.get()


class SessionMetadataMiddleware:
    """Reads the session headers of each HTTP request (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Headers arrive lower-cased; latin-1 maps every byte, so bad bytes fail validation.
        watched = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope.get("headers", ())
            if name.lower() in _WATCHED
        ]
        try:
            session = fields.from_headers((name.lower(), value) for name, value in watched)
        except fields.InvalidSessionValue as err:
            await _reject(send, f"invalid session header: {err}")
            return
        token = _request_session.set(session or None)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_session.reset(token)


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
    session = _request_session.get()
    if not session or not isinstance(data, dict):
        return
    key = "metadata" if _is_litellm_metadata(data) else "litellm_metadata"
    target = data.setdefault(key, {})
    if not isinstance(target, dict):
        return
    requester = target.get("requester_metadata")
    target["requester_metadata"] = {**(requester if isinstance(requester, dict) else {}), **session}


def _is_litellm_metadata(data: dict) -> bool:
    """Whether data["metadata"] is LiteLLM's own (chat completions) rather than Anthropic's body field."""
    if isinstance(data.get("litellm_metadata"), dict):
        return False
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and "user_api_key" in metadata


def install(app: Any) -> None:
    """Wire claude-session into the proxy app (called once per worker from proxy_server.py)."""
    from litellm.proxy.extra_model_prices import register_from_env

    app.add_middleware(SessionMetadataMiddleware)
    register_from_env()
