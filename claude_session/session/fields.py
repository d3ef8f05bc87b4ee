"""The session fields: their names everywhere they travel, and what values they accept.

One definition serves the launcher (which builds request headers and env vars),
the patched proxy (which reads the headers and env vars back) and the tests.
Standard library only: the proxy imports this on its request path.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class SessionField:
    """One session field and its name in each place it appears."""

    key: str  # key in the request's requester_metadata
    attribute: str  # OpenInference span attribute
    header: str  # per-request header (lower case)
    env: str  # proxy-wide default (the guide's env var)
    option: str  # launcher option
    pattern: re.Pattern[str]
    max_len: int
    hint: str  # what the value may contain, for error messages


_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Names are labels for people: spaces allowed, but nothing that breaks a header line.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/+-]*")

SESSION_ID = SessionField(
    key="session_id",
    attribute="session.id",
    header="x-session-tracking-id",
    env="PHOENIX_SESSION_ID",
    option="--id",
    pattern=_SLUG,
    max_len=128,
    hint="letters, digits, '.', '_' and '-', starting with a letter or digit",
)
SESSION_TYPE = SessionField(
    key="session_type",
    attribute="session.type",
    header="x-session-tracking-type",
    env="PHOENIX_SESSION_TYPE",
    option="--type",
    pattern=_SLUG,
    max_len=64,
    hint="letters, digits, '.', '_' and '-', starting with a letter or digit",
)
PROMPT_VERSION = SessionField(
    key="prompt_version",
    attribute="session.prompt_version",
    header="x-session-tracking-prompt-version",
    env="PHOENIX_PROMPT_VERSION",
    option="--version",
    pattern=_SLUG,
    max_len=32,
    hint="letters, digits, '.', '_' and '-', starting with a letter or digit",
)
SESSION_NAME = SessionField(
    key="session_name",
    attribute="session.name",
    header="x-session-tracking-name",
    env="PHOENIX_SESSION_NAME",
    option="--name",
    pattern=_NAME,
    max_len=100,
    hint="letters, digits, spaces and '._/+-', starting with a letter or digit",
)

FIELDS: tuple[SessionField, ...] = (SESSION_ID, SESSION_TYPE, PROMPT_VERSION, SESSION_NAME)
FIELD_BY_HEADER: dict[str, SessionField] = {f.header: f for f in FIELDS}
SESSION_KEYS: frozenset[str] = frozenset(f.key for f in FIELDS)

# Claude Code's own conversation id: kept as a separate attribute so one tracked
# session can be split into its Claude Code conversations.
CLAUDE_CODE_HEADER = "x-claude-code-session-id"
CLAUDE_CODE_KEY = "claude_code_session_id"
CLAUDE_CODE_ATTRIBUTE = "claude_code.session_id"
_CLAUDE_CODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

# The proxy key travels in its own header so the client's Authorization
# (an Anthropic key or a subscription OAuth token) reaches Anthropic untouched.
PROXY_KEY_HEADER = "x-litellm-api-key"

DEFAULT_TYPE = "general"
DEFAULT_VERSION = "v1"


class InvalidSessionValue(ValueError):
    """A session value that must not reach a header, an env var or a span."""


def validate(field: SessionField, value: str) -> str:
    """Return `value` if `field` accepts it, else raise with a one-line reason.

    The reason never echoes the value: it may hold control characters.
    """
    if not isinstance(value, str) or value == "":
        raise InvalidSessionValue(f"{field.option}: must not be empty")
    if len(value) > field.max_len:
        raise InvalidSessionValue(f"{field.option}: at most {field.max_len} characters (got {len(value)})")
    if value != value.strip():
        raise InvalidSessionValue(f"{field.option}: must not start or end with whitespace")
    if not field.pattern.fullmatch(value):
        raise InvalidSessionValue(f"{field.option}: only {field.hint}")
    return value


def valid_claude_code_id(value: object) -> str | None:
    """Claude Code's conversation id if it looks like one; anything else is dropped, not refused."""
    if isinstance(value, str) and _CLAUDE_CODE_ID.fullmatch(value):
        return value
    return None


def new_session_id(session_type: str, now: datetime | None = None) -> str:
    """`<type>-YYYYMMDD-HHMMSS-<6 hex>`, unique even for sessions started in the same second.

    24 random bits make a clash between two sessions of the same type started in
    the same second a one-in-16-million event.
    """
    validate(SESSION_TYPE, session_type)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    session_id = f"{session_type}-{stamp}-{secrets.token_hex(3)}"
    return validate(SESSION_ID, session_id[: SESSION_ID.max_len])


def from_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Session fields from request headers (names lower case); raises on a bad value."""
    found: dict[str, str] = {}
    for name, value in headers:
        field = FIELD_BY_HEADER.get(name)
        if field is not None:
            # The header name, not the launcher option, is what a proxy client needs to hear.
            try:
                found[field.key] = validate(field, value)
            except InvalidSessionValue as err:
                reason = str(err).split(": ", 1)[1]
                raise InvalidSessionValue(f"header {field.header}: {reason}") from None
        elif name == CLAUDE_CODE_HEADER:
            claude_code_id = valid_claude_code_id(value)
            if claude_code_id:
                found[CLAUDE_CODE_KEY] = claude_code_id
    return found


def from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Proxy-wide defaults from PHOENIX_SESSION_* (empty values count as unset); raises on a bad value."""
    found: dict[str, str] = {}
    for field in FIELDS:
        value = env.get(field.env, "")
        if value:
            try:
                found[field.key] = validate(field, value)
            except InvalidSessionValue as err:
                reason = str(err).split(": ", 1)[1]
                raise InvalidSessionValue(f"{field.env}: {reason}") from None
    return found


def to_headers(session: Mapping[str, str]) -> dict[str, str]:
    """Request headers for a session (validated: nothing unchecked reaches a header)."""
    return {f.header: validate(f, session[f.key]) for f in FIELDS if session.get(f.key)}


def to_env(session: Mapping[str, str]) -> dict[str, str]:
    """PHOENIX_SESSION_* env vars for a proxy-wide session."""
    return {f.env: validate(f, session[f.key]) for f in FIELDS if session.get(f.key)}
