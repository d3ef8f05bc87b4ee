"""Report time windows: `--since`, `--from`/`--to`, Phoenix's timestamps. Pure: `now` is given."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from claude_session.core.errors import ClaudeSessionError
from claude_session.report.errors import ReportError
from claude_session.report.timewindow import iso, parse_iso, since, when, window

NOW = datetime(2026, 11, 24, 12, 0, 0, 500_000, tzinfo=UTC)


@pytest.fixture
def utc_plus_3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time three hours ahead of UTC (a POSIX TZ string: no time zone database needed)."""
    monkeypatch.setenv("TZ", "XYZ-03")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def one_line_usage_error(excinfo: pytest.ExceptionInfo[ReportError]) -> str:
    err = excinfo.value
    assert isinstance(err, ClaudeSessionError)  # the command line prints these as one line
    assert err.exit_code == 2
    message = str(err)
    assert "\n" not in message and message
    return message


# --------------------------------------------------------------------------- --since


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", datetime(2026, 11, 24, 10, 30, 0, 500_000, tzinfo=UTC)),
        ("12h", datetime(2026, 11, 24, 0, 0, 0, 500_000, tzinfo=UTC)),
        ("7d", datetime(2026, 11, 17, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("4w", datetime(2026, 10, 27, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("30s", datetime(2026, 11, 24, 11, 59, 30, 500_000, tzinfo=UTC)),
        ("1.5h", datetime(2026, 11, 24, 10, 30, 0, 500_000, tzinfo=UTC)),
        (" 7 d ", datetime(2026, 11, 17, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("0d", NOW),
    ],
)
def test_since(text: str, expected: datetime) -> None:
    assert since(text, NOW) == expected


def test_since_defaults_to_now() -> None:
    before = datetime.now(UTC)
    start = since("1h")
    after = datetime.now(UTC)
    assert before - timedelta(hours=1) <= start <= after - timedelta(hours=1)


@pytest.mark.parametrize("text", ["soon", "7", "d", "7y", "7D", "-1d", "7dd", "1h30m", "", "1e3d", "7 days"])
def test_bad_since_is_one_usage_error(text: str) -> None:
    with pytest.raises(ReportError) as excinfo:
        since(text, NOW)
    message = one_line_usage_error(excinfo)
    assert message == f"--since {text!r}: use a number and a unit s, m, h, d or w (e.g. 7d)"


@pytest.mark.parametrize("text", ["9999999999d", "1000000w", "99999999999999999999999s"])
def test_since_too_far_back_is_a_usage_error(text: str) -> None:
    with pytest.raises(ReportError) as excinfo:
        since(text, NOW)
    message = one_line_usage_error(excinfo)
    assert message == f"--since {text!r}: reaches back before the year 1; use a shorter window"


# --------------------------------------------------------------------------- --from / --to


def test_when_with_an_offset_or_z() -> None:
    assert when("--from", "2026-11-01T14:30:00+02:00") == datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    assert when("--from", "2026-11-01T14:30:00Z") == datetime(2026, 11, 1, 14, 30, tzinfo=UTC)
    assert when("--to", " 2026-11-01T14:30:00.250-05:00 ") == datetime(
        2026, 11, 1, 19, 30, 0, 250_000, tzinfo=UTC
    )


def test_when_without_an_offset_is_local_time(utc_plus_3: None) -> None:
    assert when("--from", "2026-11-01T14:30") == datetime(2026, 11, 1, 11, 30, tzinfo=UTC)
    assert when("--from", "2026-11-01") == datetime(2026, 10, 31, 21, 0, tzinfo=UTC)  # local midnight


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20Z", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20+05:00", datetime(2026, 11, 19, 19, tzinfo=UTC)),
        ("2026-11-20-0130", datetime(2026, 11, 20, 1, 30, tzinfo=UTC)),
    ],
)
def test_a_date_with_an_offset_is_midnight_at_that_offset(
    utc_plus_3: None, text: str, expected: datetime
) -> None:
    assert when("--from", text) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "2026-13-01", "2026-11-31", "11/01/2026", "", "2026-11-01T25:00"]
)
def test_bad_when_is_one_usage_error(text: str) -> None:
    with pytest.raises(ReportError) as excinfo:
        when("--to", text)
    message = one_line_usage_error(excinfo)
    assert message == f"--to {text!r}: use a date or date-time such as 2026-11-01 or 2026-11-01T14:30"


# --------------------------------------------------------------------------- window


def test_window_from_since_to_now() -> None:
    assert window("90m", None, None, NOW) == (datetime(2026, 11, 24, 10, 30, tzinfo=UTC), None)


def test_window_from_and_to_whole_seconds() -> None:
    start, end = window(None, "2026-11-01T00:00:00.900Z", "2026-11-02T08:15:30.999999+01:00", NOW)
    assert start == datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC)  # microseconds dropped
    assert end == datetime(2026, 11, 2, 7, 15, 30, tzinfo=UTC)


def test_window_since_and_to() -> None:
    assert window("7d", None, "2026-11-20T00:00:00Z", NOW) == (
        datetime(2026, 11, 17, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 20, tzinfo=UTC),
    )


def test_window_open_ends() -> None:
    assert window(None, None, None, NOW) == (None, None)
    assert window(None, None, "2026-11-20T00:00Z", NOW) == (None, datetime(2026, 11, 20, tzinfo=UTC))
    assert window(None, "2026-11-20T00:00:00Z", None, NOW) == (datetime(2026, 11, 20, tzinfo=UTC), None)


def test_since_and_from_together_are_refused() -> None:
    with pytest.raises(ReportError) as excinfo:
        window("7d", "2026-11-01Z", None, NOW)
    assert one_line_usage_error(excinfo) == "--since and --from both set the window's start; give one"


@pytest.mark.parametrize(
    ("since_text", "start", "end"),
    [
        (None, "2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z"),  # backwards
        (None, "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),  # empty
        (None, "2026-11-01T00:00:00.2Z", "2026-11-01T00:00:00.7Z"),  # the same second once truncated
        ("1h", None, "2026-11-24T10:00:00Z"),  # an hour ago is after --to
    ],
)
def test_empty_window_is_refused(since_text: str | None, start: str | None, end: str) -> None:
    with pytest.raises(ReportError) as excinfo:
        window(since_text, start, end, NOW)
    assert one_line_usage_error(excinfo) == "the window is empty: --from/--since must come before --to"


def test_bad_dates_in_window_name_their_option() -> None:
    with pytest.raises(ReportError, match=r"^--from 'tomorrow': "):
        window(None, "tomorrow", None, NOW)
    with pytest.raises(ReportError, match=r"^--to 'later': "):
        window(None, None, "later", NOW)
    with pytest.raises(ReportError, match=r"^--since 'a week': "):
        window("a week", None, None, NOW)


# --------------------------------------------------------------------------- Phoenix timestamps


def test_parse_iso_reads_phoenix_nanoseconds_offsets_and_naive_utc() -> None:
    assert parse_iso("2026-11-24T13:01:00.105114999Z") == datetime(
        2026, 11, 24, 13, 1, 0, 105_114, tzinfo=UTC
    )
    assert parse_iso("2026-11-24T13:01:00.1Z") == datetime(2026, 11, 24, 13, 1, 0, 100_000, tzinfo=UTC)
    assert parse_iso("2026-11-24T13:01:00+00:00") == datetime(2026, 11, 24, 13, 1, tzinfo=UTC)
    assert parse_iso(" 2026-11-24T13:01:00 ") == datetime(2026, 11, 24, 13, 1, tzinfo=UTC)  # naive: UTC
    shifted = parse_iso("2026-11-24T15:01:00+02:00")
    assert shifted == datetime(2026, 11, 24, 13, 1, tzinfo=UTC)
    assert shifted.utcoffset() == timedelta(hours=2)


def test_iso_is_utc_with_microseconds_and_z() -> None:
    assert iso(datetime(2026, 11, 24, 13, 1, tzinfo=UTC)) == "2026-11-24T13:01:00.000000Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 11, 24, 15, 1, 0, 42, tzinfo=plus_two)) == "2026-11-24T13:01:00.000042Z"
    assert iso(parse_iso("2026-11-24T13:01:00.105114000Z")) == "2026-11-24T13:01:00.105114Z"
