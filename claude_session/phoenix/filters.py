"""Phoenix filter expressions that select a report's spans, written the way each UI view accepts them.

Phoenix's filter language differs by view (checked against Phoenix 20.26):

* Spans tab (a span filter): `session.type == 'code-review'` and
  `attributes['session']['type'] == ...` work; `attributes['session.type']` silently
  matches nothing. Span fields such as `name`, `status_code` and `start_time` may be used.
* Traces and Sessions tabs (trace / session filters, evaluated on the root span):
  `attributes['session']['type'] == ...` works; the dotted form `session.type` is an error,
  and span fields such as `name` are unknown.

The report fetches exactly the spans its span-view expression selects, so the expression
printed for a group is the one that produced the group's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from claude_session.core import gateway_hints


def _split(attribute: str) -> tuple[str, str]:
    outer, _, inner = attribute.partition(".")
    return outer, inner


LLM_SPAN = "litellm_request"  # one per proxied request; its parent and child would double the counts

# Report dimension -> span attribute path under `session`.
SESSION_KEYS: Mapping[str, str] = {
    "session": "id",
    "type": "type",
    "prompt_version": "prompt_version",
    "name": "name",
    "user": "user",  # who sent the request (the launcher's --user / git user.email)
    "experiment": "experiment",  # `claude-session experiment run`: the experiment's name
    "run": "run",  # and the repetition of its (task, variant)
}

# Other report dimensions -> (object, key) of their span attribute (the gateway hints, the model),
# written `attributes['claude_code']['request_class']`: the form every view accepts.
OTHER_KEYS: Mapping[str, tuple[str, str]] = {
    "request_class": _split(gateway_hints.REQUEST_CLASS.attribute),
    "agent_type": _split(gateway_hints.AGENT_TYPE.attribute),
    "model": ("llm", "model_name"),
}


def _span_path(key: str) -> str:
    if key in SESSION_KEYS:
        return f"session.{SESSION_KEYS[key]}"
    return _root_path(key)


def _root_path(key: str) -> str:
    if key in SESSION_KEYS:
        return f"attributes['session'][{quote(SESSION_KEYS[key])}]"
    outer, inner = OTHER_KEYS[key]
    return f"attributes[{quote(outer)}][{quote(inner)}]"


_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """A single-quoted string literal the filter parser (Python syntax) reads back as `value`.

    The one escaping function for every user value in a filter expression: a backslash and
    a quote are escaped, so no value can end the literal early and change the expression's
    meaning; a character that is not printable (a control character, a line separator, ...)
    is written as a `\\x`, `\\u` or `\\U` escape, so the literal is one line of visible
    text. Printable characters in any language stay as they are, for people to read.
    """
    return "'" + "".join(_escape(char) for char in value) + "'"


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def timestamp(moment: datetime) -> str:
    """A UTC timestamp literal with the offset Phoenix requires ('Z')."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def _clause(path: str, value: str | None) -> str:
    return f"{path} is None" if value is None else f"{path} == {quote(value)}"


def span_condition(
    values: Mapping[str, str | None],
    start: datetime | None = None,
    end: datetime | None = None,
) -> str:
    """Spans tab: the LLM spans whose session fields equal `values` (None: attribute absent),
    started in [start, end)."""
    parts = [f"name == {quote(LLM_SPAN)}"]
    parts += [_clause(_span_path(key), value) for key, value in values.items()]
    if start is not None:
        parts.append(f"start_time >= {quote(timestamp(start))}")
    if end is not None:
        parts.append(f"start_time < {quote(timestamp(end))}")
    return " and ".join(parts)


def root_condition(values: Mapping[str, str | None]) -> str:
    """Traces and Sessions tabs: traces (requests) whose root span carries these session fields.

    The form `attributes['session'][...]` also works in the Spans tab, where it selects both
    the request's root span and its `litellm_request` span. Time windows are set with the
    tab's time range picker, not in this expression.
    """
    parts = [_clause(_root_path(key), v) for key, v in values.items()]
    return " and ".join(parts)
