"""Credential redaction for what the proxy logs: no key or token reaches a span or a log line."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
