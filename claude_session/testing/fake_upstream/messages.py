"""What the fake answers: reply planning, usage numbers, Messages JSON, SSE events and error bodies.

Pure functions; apart from the random ``msg_``/``toolu_``/``req_`` ids every value is a
deterministic function of the request, so tests can predict it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

from claude_session.testing.fake_upstream.directives import (
    Directives,
    JsonObject,
    contains_key,
    count_text_chars,
    has_tool_result,
    last_user_message,
    parse_directives,
)

TOOL_PREAMBLE: Final = "Let me check."
TOOL_ACK: Final = "Tool result received: done."
# Stands in for the tokens of the tool_use block itself in output_tokens.
TOOL_USE_TOKENS: Final = 10
TOOL_JSON_CHUNK_CHARS: Final = 16

_REPLY_VOCABULARY: Final = (
    "Hello from the offline fake Anthropic upstream. This reply is synthetic and deterministic, "
    "so demos, tests and benchmarks run without any network access."
).split()

# fault -> (status, Anthropic error type, message)
ERROR_FAULTS: Final[dict[str, tuple[int, str, str]]] = {
    "400": (400, "invalid_request_error", "fake invalid request"),
    "401": (401, "authentication_error", "fake invalid x-api-key"),
    "403": (403, "permission_error", "fake permission denied"),
    "404": (404, "not_found_error", "fake model not found"),
    "413": (413, "request_too_large", "fake request exceeds the maximum allowed number of bytes"),
    "429": (429, "rate_limit_error", "fake rate limit"),
    "500": (500, "api_error", "fake internal server error"),
    "529": (529, "overloaded_error", "Overloaded"),
}
# Faults that change how (or whether) the reply is delivered rather than replacing it.
FLOW_FAULTS: Final = frozenset({"timeout", "drop", "pause"})

ReplyKind = Literal["text", "tool_use", "tool_ack"]
SseEvent = tuple[str, JsonObject]


# --------------------------------------------------------------------------- reply planning


@dataclass(frozen=True)
class ReplyPlan:
    """The reply the fake will give, minus random ids; a pure function of the request."""

    kind: ReplyKind
    text: str
    stop_reason: str
    usage: dict[str, int]
    tool_name: str | None = None
    tool_input: JsonObject = field(default_factory=dict)


def reply_text(words: int) -> str:
    """``words`` words cycled from a fixed sentence (exactly ``words`` whitespace-separated words)."""
    vocabulary = _REPLY_VOCABULARY
    return " ".join(vocabulary[i % len(vocabulary)] for i in range(words))


def _choose_reply(body: JsonObject, directives: Directives, reply_words: int) -> tuple[ReplyKind, str]:
    # A tool_result always means "second leg of a tool round trip": acknowledge it, never loop.
    if has_tool_result(last_user_message(body)):
        return "tool_ack", TOOL_ACK
    if directives.tool is not None:
        return "tool_use", TOOL_PREAMBLE
    return "text", reply_text(directives.usage.get("out", reply_words))


def _usage_numbers(body: JsonObject, directives: Directives, kind: ReplyKind, text: str) -> dict[str, int]:
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


def plan_reply(body: JsonObject, reply_words: int, directives: Directives | None = None) -> ReplyPlan:
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


def planned_step(
    body: JsonObject, directives: Directives, text: str, tool: tuple[str, JsonObject] | None
) -> ReplyPlan:
    """A reply decided elsewhere (the ``[[solve]]`` steps): ``text``, then the ``tool`` call if any."""
    kind: ReplyKind = "tool_use" if tool else "text"
    usage = _usage_numbers(body, directives, kind, text)
    if tool is not None:
        return ReplyPlan(kind, text, "tool_use", usage, tool_name=tool[0], tool_input=tool[1])
    return ReplyPlan(kind, text, "end_turn", usage)


def compute_usage(body: JsonObject, reply_words: int) -> dict[str, int]:
    """The usage block the fake reports for ``body`` (see the package docstring for the rules)."""
    return plan_reply(body, reply_words).usage


# --------------------------------------------------------------------------- JSON bodies


def fake_id(prefix: str) -> str:
    """A random id that looks like Anthropic's (``msg_fake_...``, ``toolu_fake_...``, ``req_fake_...``)."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def request_id() -> str:
    """A value for the ``request-id`` response header."""
    return fake_id("req_fake_")


def build_message(plan: ReplyPlan, model: str) -> JsonObject:
    """The non-streaming Messages API response for ``plan`` (ids are random)."""
    content: list[JsonObject] = [{"type": "text", "text": plan.text}]
    if plan.kind == "tool_use":
        content.append(
            {
                "type": "tool_use",
                "id": fake_id("toolu_fake_"),
                "name": plan.tool_name,
                "input": plan.tool_input,
            }
        )
    return {
        "id": fake_id("msg_fake_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": plan.stop_reason,
        "stop_sequence": None,
        "usage": dict(plan.usage),
    }


def error_body(error_type: str, message: str) -> JsonObject:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


# --------------------------------------------------------------------------- SSE


def _text_chunks(text: str, chunk_words: int) -> list[str]:
    # Chunks keep their leading space so that concatenating the deltas gives back the text.
    words = text.split(" ")
    chunks = [" ".join(words[i : i + chunk_words]) for i in range(0, len(words), chunk_words)]
    return [chunk if i == 0 else " " + chunk for i, chunk in enumerate(chunks)]


def _block_events(index: int, block: JsonObject, chunk_words: int) -> Iterator[SseEvent]:
    start: JsonObject
    deltas: list[JsonObject]
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


def stream_events(message: JsonObject, chunk_words: int) -> Iterator[SseEvent]:
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


def format_sse(name: str, data: JsonObject) -> str:
    """One SSE frame: ``event: NAME`` and a compact JSON ``data:`` line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
