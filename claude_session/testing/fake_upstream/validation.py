"""Checking a Messages request body the way Anthropic's API does, before anything is answered.

Pure functions of the parsed JSON. The fake refuses what Anthropic refuses (with its 400
``invalid_request_error``), so a test through the proxy sees what a user would see: a body
without ``model``, ``messages`` that is not a non-empty list of role/content objects, a
``max_tokens`` that is not a positive integer, or a content block of an unknown type.
"""

from __future__ import annotations

from typing import Final

ROLES: Final = frozenset({"user", "assistant", "system"})  # Claude Code sends role "system" messages too
# Content block types the Messages API takes in a request (Claude Code uses a subset).
BLOCK_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "tool_reference",
        "compaction",
    }
)


def problem(body: object, *, needs_max_tokens: bool = True) -> str | None:
    """Why Anthropic would refuse ``body`` (one line, in its wording), or None when it is acceptable.

    ``needs_max_tokens``: False for ``/v1/messages/count_tokens``, which takes no ``max_tokens``.
    """
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required"
    if needs_max_tokens:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            return "max_tokens: Field required"
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            return "max_tokens: Input should be a positive integer"
    return _messages_problem(body.get("messages"))


def _messages_problem(messages: object) -> str | None:
    if messages is None:
        return "messages: Field required"
    if not isinstance(messages, list):
        return "messages: Input should be a valid list"
    if not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            return f"{where}: Input should be a valid dictionary"
        if message.get("role") not in ROLES:
            return f"{where}.role: Input should be 'user' or 'assistant'"
        found = _content_problem(message.get("content"), f"{where}.content")
        if found:
            return found
    return None


def _content_problem(content: object, where: str) -> str | None:
    if isinstance(content, str):
        return None
    if content is None:
        return f"{where}: Field required"
    if not isinstance(content, list):
        return f"{where}: Input should be a valid string or list of content blocks"
    for index, block in enumerate(content):
        if not isinstance(block, dict):
            return f"{where}.{index}: Input should be a valid dictionary"
        block_type = block.get("type")
        if block_type not in BLOCK_TYPES:
            return f"{where}.{index}.type: unknown content block type {str(block_type)[:40]!r}"
    return None
