"""``[[solve p=X]]``: the fake "solves" the example task with probability X.

A variant carries the directive in its CLAUDE.md (Claude Code sends it inside the first user
message) or its appended system prompt. The draw is a pure function of the conversation's
session id (``x-claude-code-session-id``, else the session in ``metadata.user_id``), so one run
always draws the same, and runs differ. Solved, the fake answers with Claude Code's own tools,
one step per request: ``Read`` the buggy file, ``Edit`` it (Claude Code refuses to edit a file
it has not read), then a final text reply; not solved, a final text reply at once. The fixes are
those of the example repository (examples/repo-src); a task's fix is chosen by the file name its
prompt mentions (every fix when it names none). Paths are absolute, under the "Primary working
directory" Claude Code states in its system context.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Final

from claude_session.testing.fake_upstream.directives import DirectiveError, JsonObject, content_texts

_SOLVE_RE: Final = re.compile(r"\[\[solve\b([^\]]*)\]\]")
_CWD_RE: Final = re.compile(r"Primary working directory: *(\S[^\n]*)")
SESSION_HEADER: Final = "x-claude-code-session-id"
SOLVED_TEXT: Final = "Fixed: the failing test passes now."
UNSOLVED_TEXT: Final = "I looked at the code but could not find the problem."


@dataclass(frozen=True)
class Fix:
    path: str  # relative to the working directory
    old: str
    new: str


# The bugs of examples/repo-src and their fixes.
EXAMPLE_FIXES: Final = (
    Fix("calc.py", "return a - b", "return a + b"),
    Fix("words.py", 'return "_".join(title.lower().split())', 'return "-".join(title.lower().split())'),
)


def _all_texts(body: JsonObject) -> list[str]:
    texts = content_texts(body.get("system"), include_tool_results=False)
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") in ("user", "system"):
            texts.extend(content_texts(message.get("content"), include_tool_results=False))
    return texts


def solve_probability(texts: list[str]) -> float | None:
    """p of the last ``[[solve p=X]]`` in the texts, or None when there is none."""
    found: float | None = None
    for text in texts:
        for match in _SOLVE_RE.finditer(text):
            key, sep, value = match.group(1).strip().partition("=")
            try:
                p = float(value) if sep and key == "p" else -1.0
            except ValueError:
                p = -1.0
            if not 0.0 <= p <= 1.0:
                raise DirectiveError(
                    f"bad solve directive {match.group(0)!r}; expected [[solve p=X]], 0 <= X <= 1"
                )
            found = p
    return found


def conversation_id(body: JsonObject, header: str | None) -> str:
    if header:
        return header
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str):
        try:
            parsed = json.loads(user_id)
        except ValueError:
            return user_id
        if isinstance(parsed, dict) and isinstance(parsed.get("session_id"), str):
            return str(parsed["session_id"])
        return user_id
    return ""


def draw(session_id: str) -> float:
    """A number in [0, 1) that is a pure function of the session id."""
    digest = hashlib.sha256(f"solve:{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def solves(p: float, session_id: str) -> bool:
    return draw(session_id) < p


def _fixes_for(texts: list[str]) -> list[Fix]:
    asked = [t for t in texts if not t.lstrip().startswith("<system-reminder>")]
    named = [
        fix
        for fix in EXAMPLE_FIXES
        if any(re.search(rf"(?<![\w/.-]){re.escape(fix.path)}\b", t) for t in asked)
    ]
    return named or list(EXAMPLE_FIXES)


def _steps_taken(body: JsonObject) -> int:
    """How many of the fake's Read/Edit tool calls the conversation already holds."""
    count = 0
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if (
                isinstance(block, dict)
                and block.get("type") == "tool_use"
                and block.get("name") in ("Read", "Edit")
            ):
                count += 1
    return count


@dataclass(frozen=True)
class SolveStep:
    """The next reply: a tool call (name and input) or, with `tool` None, the final text."""

    text: str
    tool: tuple[str, JsonObject] | None = None


def next_step(body: JsonObject, session_header: str | None) -> SolveStep | None:
    """What a conversation carrying ``[[solve]]`` gets next; None when it carries none."""
    texts = _all_texts(body)
    p = solve_probability(texts)
    if p is None:
        return None
    if not solves(p, conversation_id(body, session_header)):
        return SolveStep(UNSOLVED_TEXT)
    cwd = next((m.group(1).strip() for t in texts if (m := _CWD_RE.search(t))), "")
    steps: list[tuple[str, JsonObject]] = []
    for fix in _fixes_for(texts):
        path = f"{cwd.rstrip('/')}/{fix.path}" if cwd else fix.path
        steps.append(("Read", {"file_path": path}))
        steps.append(("Edit", {"file_path": path, "old_string": fix.old, "new_string": fix.new}))
    taken = _steps_taken(body)
    if taken >= len(steps):
        return SolveStep(SOLVED_TEXT)
    return SolveStep("Let me fix it.", steps[taken])
