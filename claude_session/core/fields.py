"""The session fields: their names everywhere they travel, and what values they accept.

One definition serves the launcher (which builds request headers and env vars),
the patched proxy (which reads the headers and env vars back) and the tests.
Standard library only: the proxy imports this on its request path.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import urllib.parse
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
    pattern: re.Pattern[str] | None  # None: free text (any printable Unicode, see `_text_problem`)
    max_len: int  # in characters (code points), not bytes
    hint: str  # what the value may contain, for error messages

    @property
    def free_text(self) -> bool:
        """Free text travels percent-encoded (UTF-8) in its header; slugs travel as they are."""
        return self.pattern is None


_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Names are labels for people, in any language: any printable Unicode. In a header a name
# is percent-encoded UTF-8; these characters (with letters, digits and `_.-~`, which
# urllib.parse.quote never encodes) travel as they are, so a name made only of them
# (every name the ASCII-only rule of old accepted) is its own header value. `%` is
# always encoded (`%25`): in a header value `%` only ever starts a `%XX` escape.
NAME_HEADER_SAFE = " /+"
# Bidirectional embeddings, overrides and isolates reorder the rest of a printed line.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

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
    pattern=None,
    max_len=100,
    hint="printable characters in any language",
)

# Who sent the request: the developer's identity, so several developers can share one Phoenix.
# Email-like ASCII (a `git config user.email`, or a plain login name); sent per request only,
# never proxy-wide. Its `env` is the launcher's variable (CLAUDE_SESSION_USER; empty turns it off),
# not a PHOENIX_SESSION_* default of the proxy. The attribute sits under `session.` (not
# OpenInference's `user.id`, which LiteLLM fills from the end-user id) so the report's `session`
# column and the root span (which keeps `session.*`) carry it too.
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]*")
SESSION_USER = SessionField(
    key="session_user",
    attribute="session.user",
    header="x-session-tracking-user",
    env="CLAUDE_SESSION_USER",
    option="--user",
    pattern=_USER,
    max_len=254,
    hint="letters, digits, '.', '_', '+', '@' and '-' (an email address or a login name), "
    "starting with a letter or digit",
)

# Which experiment (`claude-session experiment run`) a run's requests belong to, and which
# repetition of its (task, variant) the run is. Per request only, like the user: the runner's
# launcher sets them; there is no proxy-wide value, and `env` is unused by the proxy.
SESSION_EXPERIMENT = SessionField(
    key="session_experiment",
    attribute="session.experiment",
    header="x-session-tracking-experiment",
    env="CLAUDE_SESSION_EXPERIMENT",
    option="--experiment",
    pattern=_SLUG,
    max_len=64,
    hint="letters, digits, '.', '_' and '-', starting with a letter or digit",
)
SESSION_RUN = SessionField(
    key="session_run",
    attribute="session.run",
    header="x-session-tracking-run",
    env="CLAUDE_SESSION_RUN",
    option="--run",
    pattern=re.compile(r"[1-9][0-9]*"),
    max_len=9,
    hint="a repetition number (1, 2, ...)",
)

# The session proper: proxy-wide defaults, env vars, the proxy-wide endpoint.
FIELDS: tuple[SessionField, ...] = (SESSION_ID, SESSION_TYPE, PROMPT_VERSION, SESSION_NAME)
# Set per request only, never proxy-wide: who sent it, and the experiment run it belongs to.
REQUEST_ONLY_FIELDS: tuple[SessionField, ...] = (SESSION_USER, SESSION_EXPERIMENT, SESSION_RUN)
# Everything a request's headers may carry: the session, who sent it, the experiment run.
HEADER_FIELDS: tuple[SessionField, ...] = (*FIELDS, *REQUEST_ONLY_FIELDS)
FIELD_BY_HEADER: dict[str, SessionField] = {f.header: f for f in HEADER_FIELDS}
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
    if field.pattern is None:
        problem = _text_problem(value)
        if problem:
            raise InvalidSessionValue(f"{field.option}: {problem}")
    if value != value.strip():
        raise InvalidSessionValue(f"{field.option}: must not start or end with whitespace")
    if field.pattern is not None and not field.pattern.fullmatch(value):
        raise InvalidSessionValue(f"{field.option}: only {field.hint}")
    return value


def _text_problem(value: str) -> str | None:
    """Why free text is refused, if it is: control characters (newlines and tabs included),
    line or paragraph separators, lone surrogates, bidirectional overrides, or nothing visible."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return "no control characters (newlines, tabs, escapes)"
        if category in ("Zl", "Zp"):
            return "no line or paragraph separators"
        if category == "Cs":
            return "no lone surrogates (not valid Unicode text)"
        if char in _BIDI_CONTROLS:
            return "no bidirectional override or isolate characters"
    if not any(unicodedata.category(char)[0] in "LNPS" for char in value):
        return "must contain a visible character (not only whitespace)"
    return None


def encode_header_value(field: SessionField, value: str) -> str:
    """The value as it travels in `field.header` (validated): free text as percent-encoded UTF-8."""
    validate(field, value)
    return urllib.parse.quote(value, safe=NAME_HEADER_SAFE) if field.free_text else value


def decode_header_value(field: SessionField, value: str) -> str:
    """The value a `field.header` value carries, validated; raises on anything else.

    Free text: ASCII only; `%XX` escapes are UTF-8 bytes, every other character is itself
    (so an ASCII name without `%` is its own encoding); a `%` that does not start a `%XX`
    escape, or escapes that are not UTF-8, are refused.
    """
    if field.free_text:
        if not value.isascii():
            raise InvalidSessionValue(f"{field.option}: only ASCII in the header (percent-encode as UTF-8)")
        if _BAD_ESCAPE.search(value):
            raise InvalidSessionValue(f"{field.option}: '%' must start a %XX escape (send '%' as %25)")
        try:
            value = urllib.parse.unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise InvalidSessionValue(f"{field.option}: the %XX escapes are not UTF-8") from None
    return validate(field, value)


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
                found[field.key] = decode_header_value(field, value)
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
    """Request headers for a session and its user (validated, free text percent-encoded: nothing unchecked
    and nothing but printable ASCII reaches a header)."""
    return {f.header: encode_header_value(f, session[f.key]) for f in HEADER_FIELDS if session.get(f.key)}


def to_env(session: Mapping[str, str]) -> dict[str, str]:
    """PHOENIX_SESSION_* env vars for a proxy-wide session (a name as it is: env vars take UTF-8)."""
    return {f.env: validate(f, session[f.key]) for f in FIELDS if session.get(f.key)}
