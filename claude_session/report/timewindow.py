"""Time windows for reports: `--since 7d`, `--from`/`--to`, and Phoenix's timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from claude_session.report.errors import ReportError

_SINCE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Phoenix writes nanoseconds ('2026-11-24T13:01:00.105114000Z'); Python reads at most microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")
# A date with an offset but no time ('2026-11-20Z', '2026-11-20+05:00'): Python 3.11's
# fromisoformat takes any character after a date as the date-time separator, so such a
# text would read as a local time of day; it means midnight at that offset.
_DATE_WITH_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}(?::?\d{2})?)", re.IGNORECASE)


def parse_iso(text: str) -> datetime:
    """A timestamp from Phoenix (or our JSON): 'Z' or an offset, up to nanoseconds; naive means UTC."""
    value = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """UTC, microseconds, 'Z': the form reports print and store."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def since(text: str, now: datetime | None = None) -> datetime:
    """The start of a window reaching back `text` ('90m', '12h', '7d', '2w') from now."""
    match = _SINCE.fullmatch(text.strip())
    if not match:
        raise ReportError(f"--since {text!r}: use a number and a unit s, m, h, d or w (e.g. 7d)", exit_code=2)
    try:
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    except OverflowError:  # beyond timedelta's or datetime's range (year 1)
        raise ReportError(
            f"--since {text!r}: reaches back before the year 1; use a shorter window", exit_code=2
        ) from None


def when(option: str, text: str) -> datetime:
    """A date or date-time from the command line; without an offset it is local time."""
    stripped = text.strip()
    date_with_offset = _DATE_WITH_OFFSET.fullmatch(stripped)
    if date_with_offset:
        stripped = f"{date_with_offset.group(1)}T00:00{date_with_offset.group(2)}"
    try:
        value = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ReportError(
            f"{option} {text!r}: use a date or date-time such as 2026-11-01 or 2026-11-01T14:30", exit_code=2
        ) from None
    return value.astimezone(UTC)  # a naive value is taken as local time


def window(
    since_text: str | None, start_text: str | None, end_text: str | None, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the report, whole seconds (so the printed filter selects the same spans)."""
    if since_text and start_text:
        raise ReportError("--since and --from both set the window's start; give one", exit_code=2)
    start = since(since_text, now) if since_text else when("--from", start_text) if start_text else None
    end = when("--to", end_text) if end_text else None
    if start is not None:
        start = start.replace(microsecond=0)
    if end is not None:
        end = end.replace(microsecond=0)
    if start is not None and end is not None and start >= end:
        raise ReportError("the window is empty: --from/--since must come before --to", exit_code=2)
    return start, end
