"""Claude Code's gateway hint headers: which part of a session each request belongs to.

With `CLAUDE_CODE_GATEWAY_HINT_HEADERS=1` (the launcher sets it unless the user's
environment already does) Claude Code tells the gateway, on every request, whether it
comes from the main loop or a sub-agent, which agent, and which user turn (prompt) it
serves. The proxy keeps them with the request's session (`requester_metadata`, under the
keys below) and sets them as span attributes in the project's `claude_code.*` namespace.

A hint is advice, never a reason to fail: a value that is not a short ASCII token is
dropped (the request goes on without it), unlike a bad session header, which is refused.
Standard library only: the proxy imports this on its request path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.trace import Span

# The Claude Code environment variable that turns the headers on.
ENV_VAR = "CLAUDE_CODE_GATEWAY_HINT_HEADERS"


@dataclass(frozen=True)
class GatewayHint:
    header: str  # request header (lower case)
    key: str  # key in the request's requester_metadata
    attribute: str  # span attribute


REQUEST_CLASS = GatewayHint(
    "x-claude-code-request-class", "claude_code_request_class", "claude_code.request_class"
)
AGENT_TYPE = GatewayHint("x-claude-code-agent-type", "claude_code_agent_type", "claude_code.agent_type")
AGENT_ID = GatewayHint("x-claude-code-agent-id", "claude_code_agent_id", "claude_code.agent_id")
PARENT_AGENT_ID = GatewayHint(
    "x-claude-code-parent-agent-id", "claude_code_parent_agent_id", "claude_code.parent_agent_id"
)
PROMPT_ID = GatewayHint("x-claude-code-prompt-id", "claude_code_prompt_id", "claude_code.prompt_id")

HINTS: tuple[GatewayHint, ...] = (REQUEST_CLASS, AGENT_TYPE, AGENT_ID, PARENT_AGENT_ID, PROMPT_ID)
HINT_BY_HEADER: dict[str, GatewayHint] = {h.header: h for h in HINTS}
HEADERS: frozenset[str] = frozenset(HINT_BY_HEADER)

# Request classes the report names (others, e.g. auxiliary or compaction, count as "rest").
MAIN = "main"
SUBAGENT = "subagent"

MAX_LEN = 128
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def valid(value: object) -> str | None:
    """`value` if it is a short ASCII token (letters, digits, `._:-`); anything else is None."""
    if isinstance(value, str) and len(value) <= MAX_LEN and value.isascii() and _TOKEN.fullmatch(value):
        return value
    return None


def from_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The valid hints among request headers (names lower case), as requester_metadata keys."""
    found: dict[str, str] = {}
    for name, value in headers:
        hint = HINT_BY_HEADER.get(name)
        if hint is not None:
            checked = valid(value)
            if checked is not None:
                found[hint.key] = checked
    return found


def set_attributes(span: Span, requester: Mapping[str, object]) -> None:
    """Set the `claude_code.*` hint attributes carried in `requester` (checked again: client data)."""
    for hint in HINTS:
        value = valid(requester.get(hint.key))
        if value is not None:
            span.set_attribute(hint.attribute, value)
