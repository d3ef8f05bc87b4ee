"""ANTHROPIC_CUSTOM_HEADERS: how a session and the proxy key reach every Claude Code request.

Claude Code adds each `Name: value` line of ANTHROPIC_CUSTOM_HEADERS to every
request. The user's own lines are kept; ours replace any earlier copy of themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

from claude_session.core import fields

OURS = frozenset({*fields.FIELD_BY_HEADER, fields.PROXY_KEY_HEADER})


def parse(text: str) -> list[tuple[str, str]]:
    """The `Name: value` lines of an ANTHROPIC_CUSTOM_HEADERS value (blank lines dropped)."""
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if sep:
            pairs.append((name.strip(), value.strip()))
    return pairs


def merge(existing: str | None, session: Mapping[str, str], proxy_key: str | None) -> str:
    """The user's headers minus any stale session/proxy-key lines, then this session's headers."""
    kept = [(name, value) for name, value in parse(existing or "") if name.lower() not in OURS]
    ours = list(fields.to_headers(session).items())
    if proxy_key:
        ours.append((fields.PROXY_KEY_HEADER, _single_line(proxy_key)))
    return "\n".join(f"{name}: {value}" for name, value in [*kept, *ours])


def _single_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise fields.InvalidSessionValue("the proxy key must be a single line")
    return value
