"""Rendering a report: number formats, the comparison table (within 100 columns), the session list,
JSON and CSV (parsed back). Pure and in-process; figures worked out by hand from report_rows."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace

import pytest

from claude_session.report import render
from claude_session.report.fetch import Selection, aggregate
from claude_session.report.model import COMPARED, Report, compare, totals
from claude_session.report.render import CSV_FIELDS, comparison_table, session_list, table, to_csv, to_json
from claude_session.report.units import clip, count, duration, millis, moment, usd
from tests.unit.report_rows import dataset, group

FILTERS_SECTION = "Phoenix filters for these spans (Spans tab; then Traces or Sessions tab):"


def make_report(group_by: str = "prompt_version", baseline: str | None = None, **values: str) -> Report:
    selection = Selection(values)
    groups = aggregate([dataset()], selection, group_by).groups
    report = Report(
        project="claude-code",
        phoenix_url="http://127.0.0.1:6006",
        group_by=group_by,
        filters=dict(values),
        window_start=None,
        window_end=None,
        span_filter=selection.span_filter(),
        groups=groups,
    )
    if baseline:
        report = replace(report, baseline=baseline)
        report = replace(report, comparisons=compare(groups, baseline))
    report = replace(report, **totals(report.groups))
    return report


def cells(lines: list[str], label: str, occurrence: int = 0) -> list[str]:
    """The cells of a comparison-table row (cells are separated by two or more spaces)."""
    found = [line for line in lines if line[: render.LABEL].rstrip() == label]
    return re.split(r"\s{2,}", found[occurrence][render.LABEL :].strip())


# --------------------------------------------------------------------------- number formats


def test_count() -> None:
    assert count(None) == "-"
    assert count(0) == "0"
    assert count(1234) == "1,234"
    assert count(301.6667) == "302"
    assert count(-5) == "-5"
    assert count(999_999_999) == "999,999,999"  # 11 characters: still whole
    assert count(12_345_678_901) == "12.35B"
    assert count(1_234_567_890_123) == "1.23T"


def test_usd() -> None:
    assert usd(None) == "-"
    assert usd(0) == "$0"
    assert usd(0.005) == "$0.005000"
    assert usd(0.25) == "$0.2500"
    assert usd(12.5) == "$12.50"
    assert usd(1234.4) == "$1,234"


def test_millis_duration_moment_clip() -> None:
    assert millis(None) == "-"
    assert millis(250) == "250 ms"
    assert millis(1500) == "1.50 s"
    assert duration(None) == "-"
    assert duration(59) == "59s"
    assert duration(61) == "1m01s"
    assert duration(3661) == "1h01m"
    assert duration(90_000) == "1d01h"
    assert moment(None) == "-"
    assert moment("2026-11-24T13:05:59.999999999Z") == "2026-11-24 13:05"
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdef", 4) == "abc…"


# --------------------------------------------------------------------------- comparison table


def test_comparison_table_shows_the_hand_computed_figures() -> None:
    lines = comparison_table(make_report(baseline="v1"))
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert cells(lines, "prompt version") == ["v1", "v2", "(none)"]
    assert cells(lines, "sessions") == ["3", "2", "1"]
    assert cells(lines, "requests") == ["5", "5", "2"]
    assert cells(lines, "  per session", 0) == ["1.7", "2.5", "2.0"]
    assert cells(lines, "errors") == ["0", "1", "0"]
    assert cells(lines, "input tokens") == ["360", "40", "14"]
    assert cells(lines, "  per session", 1) == ["120", "20", "14"]
    assert cells(lines, "cache-read tokens") == ["460", "0", "0"]
    assert cells(lines, "all tokens/session") == ["302", "30", "20"]  # 905 / 3, 60 / 2, 20 / 1
    assert cells(lines, "cost (LiteLLM)") == ["$0.0290", "$0.004000", "$0.001000"]
    assert cells(lines, "  per request") == ["$0.005800", "$0.000800", "$0.000500"]
    assert cells(lines, "latency p50") == ["300 ms", "150 ms", "80 ms"]
    assert cells(lines, "latency p95") == ["880 ms", "330 ms", "89 ms"]
    assert cells(lines, "first token p50") == ["-", "20 ms", "-"]
    assert cells(lines, "change vs v1") == [""]
    assert cells(lines, "  requests per session") == ["baseline", "+50%", "+20%"]  # 2.5 and 2 vs 5/3
    assert cells(lines, "  p50 latency") == ["baseline", "-50%", "-73%"]  # 150 and 80 vs 300


def test_without_a_baseline_there_are_no_change_rows() -> None:
    lines = comparison_table(make_report())
    assert not any(line.startswith("change vs") for line in lines)
    assert len(lines) == 1 + len(render.ROWS) + len(render._attribution_rows(make_report()))


def test_many_groups_are_split_into_blocks_each_led_by_the_baseline() -> None:
    groups = [group("base", sessions=1, requests=2, cost_usd=0.5)]
    groups += [group(f"g{i:02d}", sessions=1, requests=2, cost_usd=0.25) for i in range(10)]
    report = Report("p", "http://x", "prompt_version", {}, None, None, "", groups, baseline="base")
    report = replace(report, comparisons=compare(groups, "base"))
    lines = comparison_table(report)
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    # Every cell fits 9 characters: (100 - 22) // (9 + 2) = 7 groups a block, the baseline and 6 others.
    headers = [
        re.split(r"\s{2,}", line[render.LABEL :].strip()) for line in lines if line.startswith("prompt")
    ]
    assert headers == [
        ["base", "g00", "g01", "g02", "g03", "g04", "g05"],
        ["base", "g06", "g07", "g08", "g09"],
    ]
    assert lines.count("") == 1  # one blank line between the blocks


def test_narrower_width_gives_smaller_blocks() -> None:
    groups = [group(f"g{i}", sessions=1) for i in range(5)]
    report = Report("p", "http://x", "type", {}, None, None, "", groups)
    lines = comparison_table(report, width=60)  # (60 - 22) // 11 = 3 groups a block
    assert all(len(line) <= 60 for line in lines)
    assert [line.split()[1:] for line in lines if line.startswith("type")] == [
        ["g0", "g1", "g2"],
        ["g3", "g4"],
    ]


def test_long_labels_are_clipped_to_16_characters() -> None:
    groups = [group(f"a-rather-long-prompt-version-{i}", sessions=1) for i in range(6)]
    report = Report("p", "http://x", "prompt_version", {}, None, None, "", groups)
    lines = comparison_table(report)
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    headers = [line for line in lines if line.startswith("prompt version")]
    assert len(headers) == 2  # (100 - 22) // (16 + 2) = 4 a block
    assert headers[0].split()[2:] == ["a-rather-long-p…"] * 4


def test_table_fits_100_columns_above_the_filters() -> None:
    report = make_report(baseline="v1", type="code-review")
    report = replace(
        report, warnings=["v2 has 2 sessions (fewer than 5): too few to tell a real change from noise " * 2]
    )
    report = replace(report, phoenix_cost_usd=0.034)
    text = table(report)
    lines = text.splitlines()
    head = lines[: lines.index(FILTERS_SECTION)]
    assert all(len(line) <= 100 for line in head), max(head, key=len)
    assert lines[0] == "project 'claude-code' at http://127.0.0.1:6006"
    assert lines[1] == "12 requests in 6 sessions, 2026-11-24 13:00 to 2026-11-24 13:51 UTC"
    assert lines[2] == "filters: type=code-review"
    assert "      Phoenix's own figure for these sessions: $0.0340 (agrees)" in lines
    assert "v2 vs v1: -90% tokens per session, -79% cost per session, -50% p50 latency" in lines
    warning = [line for line in head if line.startswith("warning: ")]
    assert len(warning) == 1  # wrapped, the rest indented
    assert "  v1:" in lines[lines.index(FILTERS_SECTION) :]
    assert (
        "    name == 'litellm_request' and session.type == 'code-review' and session.prompt_version == 'v1'"
        in lines
    )


def test_table_says_when_phoenix_cost_differs() -> None:
    report = make_report()
    report = replace(report, phoenix_cost_usd=0.0)
    assert "      Phoenix's own figure for these sessions: $0 (DIFFERS, see the warnings)" in table(report)


@pytest.mark.parametrize("label_chars", [50, 100])  # session names may be 100 characters long
def test_summary_of_long_group_labels_fits_100_columns(label_chars: int) -> None:
    long_a, long_b = "a" * label_chars, "b" * label_chars
    groups = [group(long_a, sessions=1, requests=1), group(long_b, sessions=1, requests=2)]
    report = Report("p", "http://x", "name", {}, None, None, "", groups, baseline=long_a)
    report = replace(report, comparisons=compare(groups, long_a))
    lines = table(report).splitlines()
    head = lines[: lines.index(FILTERS_SECTION)]
    assert all(len(line) <= 100 for line in head), max(head, key=len)
    # Nothing of the summary is lost to the wrapping: joined back, it is the one-line summary.
    summary = report.comparisons[0].summary()
    start = next(i for i, line in enumerate(head) if line.startswith(long_b[:20]))
    wrapped = head[start : head.index("", start)]
    assert "".join(wrapped).replace(" ", "") == summary.replace(" ", "")


# --------------------------------------------------------------------------- session list


def session_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("session "))
    end = lines.index("", start)
    return [re.split(r"\s{2,}", line.strip()) for line in lines[start:end]]


def test_session_list_most_recent_first_with_limit() -> None:
    report = make_report("session")
    text = session_list(report, limit=3)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "the 3 most recent of 6 sessions, most recent first" in text
    assert session_rows(text) == [
        ["session", "type", "ver", "name", "start (UTC)", "duration", "reqs", "cost"],
        ["s6", "code-review", "-", "-", "11-24 13:50", "1m02s", "2", "$0.001000"],
        ["s5", "chat", "v2", "-", "11-24 13:40", "1m01s", "2", "$0.001000"],
        ["s4", "chat", "v2", "bot", "11-24 13:30", "2m01s", "3", "$0.003000"],
    ]
    assert text.endswith("Phoenix: Sessions tab, filter attributes['session']['id'] == '<session>'\n")


def test_session_list_without_limit() -> None:
    text = session_list(make_report("session"))
    assert "\n6 sessions, most recent first\n" in text
    rows = session_rows(text)
    assert [r[0] for r in rows[1:]] == ["s6", "s5", "s4", "s3", "s2", "s1"]
    assert rows[-1] == ["s1", "code-review", "v1", "auth", "11-24 13:00", "1m30s", "2", "$0.0120"]


def test_session_list_of_a_cut_report_counts_every_session() -> None:
    report = make_report("session")
    report = replace(report, groups=report.groups[:2])  # what --limit does after count_totals
    assert "the 2 most recent of 6 sessions" in session_list(report)


def test_session_list_shrinks_names_first_and_keeps_the_id_tail() -> None:
    session_id = "".join(f"{i:02d}" for i in range(50))  # 100 characters, every position distinct
    long = group(
        session_id,
        sessions=1,
        requests=1,
        cost_usd=0.01,
        start="2026-11-24T13:00:00.000000Z",
        end="2026-11-24T13:00:05.000000Z",
        session_type="t" * 40,
        prompt_version="v1",
        session_name="n" * 60,
    )
    report = Report("p", "http://x", "session", {}, None, None, "", [long])
    lines = session_list(report).splitlines()
    table_lines = [line for line in lines if line.startswith(("session ", session_id[:20]))]
    # Widths: id 100, type 40, ver 3, name 60, start 11, duration 8, reqs 4, cost 7 and seven gaps of 2
    # make 247. Type and name go down to their floor of 6 (88 fewer), the id gives the other 59: 41,
    # clipped in the middle to 20 characters, '…' and the last 20.
    assert [len(line) for line in table_lines] == [100, 100]
    assert table_lines[1].split("  ")[:3] == [session_id[:20] + "…" + session_id[-20:], "ttttt…", "v1"]
    assert "nnnnn…" in table_lines[1]


# --------------------------------------------------------------------------- JSON and CSV


def test_json_holds_the_numbers_and_round_trips() -> None:
    report = make_report(baseline="v1")
    text = to_json(report)
    data = json.loads(text)
    v1, v2, none = data["groups"]
    assert (v1["key"], v2["key"], none["key"]) == ("v1", "v2", None)
    assert (v1["sessions"], v1["requests"], v1["input_tokens"], v1["cache_read_tokens"]) == (3, 5, 360, 460)
    assert v1["cost_usd"] == pytest.approx(0.029)
    assert v1["cost_per_session"] == pytest.approx(0.029 / 3)
    assert v1["total_tokens"] == 905
    assert v1["latency_p95_ms"] == pytest.approx(880.0)
    assert v2["errors"] == 1 and v2["ttft_p50_ms"] == pytest.approx(20.0)
    assert v1["models"] == ["claude-a", "claude-b"]
    assert v1["duration_s"] == pytest.approx(1260 - 0.105114)
    assert data["comparisons"][0]["changes"]["latency_p50_ms"] == pytest.approx(-0.5)
    assert (data["requests"], data["sessions"], data["total_groups"]) == (12, 6, 3)
    assert Report.from_dict(data).to_dict() == data
    assert to_json(Report.from_dict(json.loads(text))) == text


def test_csv_parses_back_to_the_same_numbers() -> None:
    report = make_report(baseline="v1")
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    changes = [f"change_{metric}" for metric in COMPARED]
    assert list(rows[0]) == [*CSV_FIELDS, *changes, "span_filter", "root_filter"]
    assert [r["group"] for r in rows] == ["v1", "v2", "(none)"]
    assert {r["group_by"] for r in rows} == {"prompt_version"}
    v1, v2, none = rows
    assert [int(v1[k]) for k in ("sessions", "requests", "errors", "input_tokens", "output_tokens")] == [
        3,
        5,
        0,
        360,
        75,
    ]
    assert (int(v1["cache_read_tokens"]), int(v1["cache_write_tokens"]), int(v1["total_tokens"])) == (
        460,
        10,
        905,
    )
    assert float(v1["cost_usd"]) == pytest.approx(0.029, rel=1e-9)
    assert float(v1["cost_per_request"]) == pytest.approx(0.0058, rel=1e-9)
    assert float(v1["latency_p50_ms"]) == 300.0
    assert float(v2["latency_p95_ms"]) == 330.0
    assert v1["ttft_p50_ms"] == "" and float(v2["ttft_p50_ms"]) == 20.0  # None is an empty cell
    assert v1["phoenix_cost_usd"] == "" and v1["cost_mismatch"] == "False"
    assert v1["start"] == "2026-11-24T13:00:00.105114Z"
    assert all(v1[c] == "" for c in changes)  # the baseline itself
    assert float(v2["change_requests_per_session"]) == pytest.approx(0.5)
    assert float(v2["change_latency_p50_ms"]) == pytest.approx(-0.5)
    assert float(none["change_latency_p50_ms"]) == pytest.approx(80 / 300 - 1)
    assert none["span_filter"] == "name == 'litellm_request' and session.prompt_version is None"
    assert none["root_filter"] == "attributes['session']['prompt_version'] is None"


def test_csv_without_baseline_and_with_limit() -> None:
    text = to_csv(make_report("session"), limit=2)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert not any(name.startswith("change_") for name in rows[0])
    assert [(r["group"], r["session_type"], r["prompt_version"]) for r in rows] == [
        ("s6", "code-review", ""),
        ("s5", "chat", "v2"),
    ]
    assert float(rows[0]["duration_s"]) == 62.0


def test_empty_report_is_still_a_well_formed_document() -> None:
    report = Report("p", "http://x", "prompt_version", {}, None, None, "name == 'litellm_request'", [])
    assert json.loads(to_json(report))["groups"] == []
    assert to_csv(report) == ",".join([*CSV_FIELDS, "span_filter", "root_filter"]) + "\n"
