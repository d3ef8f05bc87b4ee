"""Phoenix's GraphQL connection cursors, and asking its cached aggregates for a fresh answer.

A `Project.spans` cursor is base64 of the span's row id (`rowid`), or of `rowid:TYPE:value` in
a connection sorted by a column (startTime: `rowid:DATETIME:<iso>`); `after: <cursor>` of an
unsorted one means "stored after that row" (Phoenix's server/api/types/pagination.py).

Phoenix caches its counts, time bounds and annotation summaries per argument set, and drops
them when a write's event is handled, which happens in batches about 0.1 s later: a count asked
right after a write can be the one from before it. A time range starting at a random microsecond
of 1970 (every span and session is later) is an argument set never asked before, so Phoenix
computes the answer from its database.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime


def cursor(rowid: int) -> str:
    return base64.b64encode(str(rowid).encode()).decode()


def rowid_of(cursor_text: str) -> int:
    """The row id of a cursor, sorted or not."""
    return int(base64.b64decode(cursor_text).decode().partition(":")[0])


def start_of(cursor_text: str) -> datetime:
    """The start time a startTime-sorted cursor carries, as naive UTC."""
    value = base64.b64decode(cursor_text).decode().split(":", 2)[2]
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)


def fresh_range() -> dict[str, str]:
    """A GraphQL TimeRange covering everything that Phoenix has not answered before (see above)."""
    return {"start": f"1970-01-01T00:00:00.{secrets.randbelow(10**6):06d}+00:00"}
