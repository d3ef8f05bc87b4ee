"""Reading a Messages request body: its text, its ``cache_control`` keys and its ``[[...]]`` directives.

Pure functions of the parsed JSON body; nothing here knows about HTTP. Bodies come from
clients, so every helper tolerates odd (but JSON) shapes instead of crashing on them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

JsonObject = dict[str, Any]

USAGE_KEYS: Final = frozenset({"in", "out", "cache_read", "cache_write"})
_USAGE_RE: Final = re.compile(r"\[\[usage\b([^\]]*)\]\]")
_FAULT_RE: Final = re.compile(r"\[\[fault:\s*([^\]\s]+)\s*\]\]")
_TOOL_RE: Final = re.compile(r"\[\[tool:([A-Za-z0-9_.:-]+)")


class DirectiveError(ValueError):
    """A ``[[...]]`` directive in the prompt is malformed (answered with a 400)."""


# --------------------------------------------------------------------------- request text


def _block_text(block: object) -> str | None:
    """The text of a ``text`` block, or None for anything else."""
    if isinstance(block, dict) and block.get("type") == "text":
        text = block.get("text")
        if isinstance(text, str):
            return text
    return None


def _tool_result_texts(block: JsonObject) -> list[str]:
    # tool_result content is either a plain string or a list of (text, image...) blocks.
    content = block.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [text for item in content if (text := _block_text(item)) is not None]
    return []


def content_texts(content: object, *, include_tool_results: bool) -> list[str]:
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


def _messages(body: JsonObject) -> list[JsonObject]:
    # Tolerate junk entries so usage never crashes on odd (but JSON) input.
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [message for message in messages if isinstance(message, dict)]


def count_text_chars(body: JsonObject) -> int:
    """Characters of all text in ``system`` and in every message (incl. tool results)."""
    texts = content_texts(body.get("system"), include_tool_results=False)
    for message in _messages(body):
        texts.extend(content_texts(message.get("content"), include_tool_results=True))
    return sum(len(text) for text in texts)


def last_user_message(body: JsonObject) -> JsonObject | None:
    """The last ``role: user`` message, or None."""
    for message in reversed(_messages(body)):
        if message.get("role") == "user":
            return message
    return None


def has_tool_result(message: JsonObject | None) -> bool:
    """Whether ``message`` carries a ``tool_result`` block."""
    content = message.get("content") if message else None
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def contains_key(value: object, key: str) -> bool:
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
    tool: tuple[str, JsonObject] | None = None
    fault: str | None = None


def _parse_usage(spec: str) -> dict[str, int]:
    usage: dict[str, int] = {}
    for item in spec.split():
        key, sep, value = item.partition("=")
        # Strict on purpose: a silently ignored typo would make a test pass for the wrong reason.
        if not sep or key not in USAGE_KEYS or not value.isdigit():
            raise DirectiveError(
                f"bad usage directive item {item!r}; expected in/out/cache_read/cache_write=N"
            )
        usage[key] = int(value)
    return usage


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _parse_tool(text: str, match: re.Match[str]) -> tuple[str, JsonObject]:
    # The JSON may itself contain "]]", so decode it instead of regex-matching up to "]]".
    pos = _skip_space(text, match.end())
    tool_input: object = {}
    if not text.startswith("]]", pos):
        try:
            tool_input, pos = json.JSONDecoder().raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DirectiveError(f"bad JSON in tool directive: {exc.msg}") from None
        pos = _skip_space(text, pos)
    if not isinstance(tool_input, dict) or not text.startswith("]]", pos):
        raise DirectiveError("tool directive must look like [[tool:NAME {json object}]]")
    return match.group(1), tool_input


def parse_directives(body: JsonObject) -> Directives:
    """Directives found in the text blocks of the last user message (later ones win).

    Claude Code prepends system reminders as extra text blocks to the user's
    prompt, so every text block is searched, not just the first. Raises
    :class:`DirectiveError` when a directive is malformed.
    """
    message = last_user_message(body)
    texts = content_texts(message.get("content"), include_tool_results=False) if message else []
    usage: dict[str, int] = {}
    tool: tuple[str, JsonObject] | None = None
    fault: str | None = None
    for text in texts:
        for usage_match in _USAGE_RE.finditer(text):
            usage.update(_parse_usage(usage_match.group(1)))
        for tool_match in _TOOL_RE.finditer(text):
            tool = _parse_tool(text, tool_match)
        for fault_match in _FAULT_RE.finditer(text):
            fault = fault_match.group(1).lower()
    return Directives(usage=usage, tool=tool, fault=fault)


def requested_fault(header: str | None, directives: Directives) -> str | None:
    """The fault to inject: the ``x-fake-fault`` header wins over ``[[fault:...]]``; None for none."""
    return (header or directives.fault or "").strip().lower() or None
