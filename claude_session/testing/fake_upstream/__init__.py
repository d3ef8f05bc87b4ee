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
* ``[[solve p=X]]`` anywhere in the system prompt or the user's messages (a variant's
  CLAUDE.md or appended system prompt) makes the fake fix the example repository's bug
  (examples/repo-src) with probability X, drawn from the conversation's session id:
  ``Read``, then ``Edit``, then a final text (see :mod:`.solve`).
* Like Anthropic, it refuses with a 400 ``invalid_request_error`` a body without ``model``,
  without a positive integer ``max_tokens``, whose ``messages`` is not a non-empty list of
  role/content objects, or with a content block of an unknown type (:mod:`.validation`).
  Every answer carries ``request-id`` and ``anthropic-ratelimit-*`` headers; a retryable
  error (429, 5xx, 529) ``retry-after`` and ``x-should-retry: true`` (:mod:`.faults`).
* Faults are injected with the ``x-fake-fault`` header or ``[[fault:VALUE]]``:
  ``400``, ``401``, ``403``, ``404``, ``413``, ``429``, ``500``, ``529``; ``529x2`` (that
  error for the first 2 attempts of the ``x-claude-code-session-id`` conversation, then
  answers); ``stream-529`` (a streamed reply that sends ``message_start``, ``ping``, then an
  ``error`` event); ``timeout`` (stall 300 s), ``drop``
  (cut the connection mid-stream, or before any response when not streaming) and
  ``pause`` (a streamed reply holds 4 s after its first text delta, then completes).
* ``GET /_fake/requests`` shows the last 200 requests that reached
  ``/v1/messages*`` (``total`` counts every attempt); ``DELETE /_fake/requests`` clears them
  and the per-conversation fault counts.

Run it with ``python -m claude_session.testing.fake_upstream [--host 127.0.0.1]
[--port 8089] [--think-ms 0] [--reply-words 24] [--chunk-words 4]
[--log-level warning]`` or embed :func:`create_app` in another ASGI server.

Modules: :mod:`.directives` reads request bodies (text, ``[[...]]`` directives),
:mod:`.solve` plans the ``[[solve]]`` steps, :mod:`.messages` builds replies (usage, Messages
JSON, SSE events, error bodies),
:mod:`.app` is the Starlette app and :mod:`.server` the uvicorn process.
"""

from claude_session.testing.fake_upstream.app import (
    MAX_BODY_BYTES,
    REQUEST_LOG_SIZE,
    TIMEOUT_FAULT_SECONDS,
    FakeUpstream,
    InjectedDrop,
    create_app,
    fake_of,
)
from claude_session.testing.fake_upstream.directives import (
    DirectiveError,
    Directives,
    contains_key,
    count_text_chars,
    parse_directives,
    requested_fault,
)
from claude_session.testing.fake_upstream.messages import (
    ERROR_FAULTS,
    FLOW_FAULTS,
    TOOL_ACK,
    TOOL_JSON_CHUNK_CHARS,
    TOOL_PREAMBLE,
    TOOL_USE_TOKENS,
    ReplyKind,
    ReplyPlan,
    build_message,
    compute_usage,
    error_body,
    format_sse,
    plan_reply,
    reply_text,
    stream_events,
)
from claude_session.testing.fake_upstream.server import DEFAULT_HOST, DEFAULT_PORT, Options, main

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ERROR_FAULTS",
    "FLOW_FAULTS",
    "MAX_BODY_BYTES",
    "REQUEST_LOG_SIZE",
    "TIMEOUT_FAULT_SECONDS",
    "TOOL_ACK",
    "TOOL_JSON_CHUNK_CHARS",
    "TOOL_PREAMBLE",
    "TOOL_USE_TOKENS",
    "DirectiveError",
    "Directives",
    "FakeUpstream",
    "InjectedDrop",
    "Options",
    "ReplyKind",
    "ReplyPlan",
    "build_message",
    "compute_usage",
    "contains_key",
    "count_text_chars",
    "create_app",
    "error_body",
    "fake_of",
    "format_sse",
    "main",
    "parse_directives",
    "plan_reply",
    "reply_text",
    "requested_fault",
    "stream_events",
]
