"""Session metadata for logging: merge, proxy-wide defaults, and header redaction.

Part of the claude-session overlay on LiteLLM (see patches/series). Called from
`StandardLoggingPayloadSetup.get_standard_logging_metadata`, so every logging
integration sees the same requester_metadata and never a credential header.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping

from claude_session import fields

_log = logging.getLogger("LiteLLM")

# Header names whose values are credentials. Matched by substring so a vendor's
# `x-foo-api-key` or `x-bar-token` is caught too.
_SECRET_HEADER = re.compile(
    r"(authorization|api[-_]?key|token|secret|password|cookie|credential)", re.IGNORECASE
)
# Values that are credentials whatever header carries them.
_SECRET_VALUE = re.compile(r"^\s*(bearer\s+\S|sk-[A-Za-z0-9_-]{6,}|sk-ant-)", re.IGNORECASE)
REDACTED = "[redacted]"


def redact_headers(headers: object) -> dict[str, object] | None:
    """A copy of `headers` with every credential value replaced by a marker."""
    if not isinstance(headers, Mapping):
        return None
    return {
        name: (
            REDACTED
            if _SECRET_HEADER.search(str(name)) or (isinstance(value, str) and _SECRET_VALUE.match(value))
            else value
        )
        for name, value in headers.items()
    }


@functools.cache
def proxy_defaults() -> Mapping[str, str]:
    """The proxy-wide session from PHOENIX_SESSION_*, read once per process.

    A type or version without an id gets an id generated once, so every request
    of this proxy process lands in one session. A bad value is logged and ignored
    here (the launcher refuses it before it gets this far).
    """
    try:
        defaults = fields.from_env()
    except fields.InvalidSessionValue as err:
        _log.warning("claude-session: ignoring proxy-wide session defaults: %s", err)
        return {}
    if defaults and fields.SESSION_ID.key not in defaults:
        # As the launcher does: a session always has an id and a type.
        session_type = defaults.setdefault(fields.SESSION_TYPE.key, fields.DEFAULT_TYPE)
        defaults[fields.SESSION_ID.key] = fields.new_session_id(session_type)
    return defaults


def merge_requester_metadata(tagged: object, from_body: object) -> dict | None:
    """requester_metadata = the body's metadata, then the request's session, then the proxy defaults.

    Stock LiteLLM kept only one of the first two; keeping both means the client's own
    metadata (Claude Code's user_id) survives next to the session fields.
    """
    merged: dict = {}
    if isinstance(from_body, Mapping):
        merged.update(from_body)
    if isinstance(tagged, Mapping):
        merged.update(tagged)
    for key, value in proxy_defaults().items():
        merged.setdefault(key, value)
    return merged or None
