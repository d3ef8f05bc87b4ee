"""Aggregating span rows into report groups, the baseline comparison, and paging with a fake Phoenix.

Pure and in-process: synthetic rows from tests/unit/report_rows.py, figures worked out by hand.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from claude_session.report.errors import ReportError
from claude_session.report.fetch import Selection, aggregate, fetch_pages, phoenix_costs, quantile
from claude_session.report.model import Report, compare, differs, percent, totals
from tests.unit.report_rows import EXPECTED, dataset, error_row, group, row, ts

NUMBERS = (
    "sessions",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
)


def by_label(groups: list[Any]) -> dict[str, Any]:
    return {g.label: g for g in groups}


# --------------------------------------------------------------------------- quantiles


def test_quantile_interpolates_between_closest_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.5) == 7.0
    assert quantile([7.0], 0.95) == 7.0
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5  # unsorted input; halfway between 2 and 3
    assert quantile([10.0, 20.0, 30.0, 40.0], 0.95) == pytest.approx(38.5)  # position 2.85
    assert quantile([10.0, 20.0, 30.0, 40.0], 0.0) == 10.0
    assert quantile([10.0, 20.0, 30.0, 40.0], 1.0) == 40.0
    values = [float(v) for v in range(1, 101)]  # 1..100: position 49.5 and 94.05
    assert quantile(values, 0.5) == pytest.approx(50.5)
    assert quantile(values, 0.95) == pytest.approx(95.05)


# --------------------------------------------------------------------------- aggregation


def test_groups_by_prompt_version_with_hand_computed_sums() -> None:
    result = aggregate([dataset()], Selection(), "prompt_version")
    assert (result.spans, result.pages) == (12, 1)
    assert [g.label for g in result.groups] == ["v1", "v2", "(none)"]  # spans without a version last
    groups = by_label(result.groups)
    for label, expected in EXPECTED.items():
        got = groups[label]
        for key in NUMBERS:
            assert getattr(got, key) == expected[key], (label, key)
        assert got.cost_usd == pytest.approx(expected["cost_usd"], rel=1e-12), label
        assert got.latency_p50_ms == pytest.approx(expected["latency_p50_ms"]), label
        assert got.latency_p95_ms == pytest.approx(expected["latency_p95_ms"]), label
        if expected["ttft_p50_ms"] is None:
            assert got.ttft_p50_ms is None
        else:
            assert got.ttft_p50_ms == pytest.approx(expected["ttft_p50_ms"])
        assert got.models == expected["models"]
        assert (got.start, got.end) == (expected["start"], expected["end"])
        # Session fields are only set when grouping by session.
        assert (got.session_type, got.prompt_version, got.session_name) == (None, None, None)
    assert groups["(none)"].key is None


def test_derived_figures_of_a_group() -> None:
    v1 = by_label(aggregate([dataset()], Selection(), "prompt_version").groups)["v1"]
    assert v1.total_tokens == 360 + 75 + 460 + 10
    assert v1.tokens_per_session == pytest.approx(905 / 3)
    assert v1.cost_per_session == pytest.approx(0.029 / 3)
    assert v1.cost_per_request == pytest.approx(0.029 / 5)
    assert v1.requests_per_session == pytest.approx(5 / 3)
    assert v1.duration_s == pytest.approx(21 * 60 - 0.105114)  # 13:00:00.105114 to 13:21:00
    derived = v1.derived()
    assert derived["input_tokens_per_session"] == pytest.approx(120.0)
    assert derived["output_tokens_per_session"] == pytest.approx(25.0)
    assert derived["cache_read_tokens_per_session"] == pytest.approx(460 / 3)
    assert derived["cache_write_tokens_per_session"] == pytest.approx(10 / 3)
    assert derived["cost_mismatch"] is False  # no Phoenix figure to compare with


def test_pages_give_the_same_groups_as_one_page() -> None:
    rows = dataset()
    whole = aggregate([rows], Selection(), "prompt_version")
    paged = aggregate(iter([rows[:5], rows[5:6], [], rows[6:]]), Selection(), "prompt_version")
    assert (paged.spans, paged.pages) == (12, 4)
    assert [g.label for g in paged.groups] == [g.label for g in whole.groups]
    for a, b in zip(paged.groups, whole.groups, strict=True):
        costs = ("cost_usd", "cost_per_session", "cost_per_request")
        assert {k: v for k, v in a.to_dict().items() if k not in costs} == {
            k: v for k, v in b.to_dict().items() if k not in costs
        }
        assert a.cost_usd == pytest.approx(b.cost_usd, rel=1e-12)  # summed in another order
    assert paged.fetch_s >= 0 and paged.aggregate_s >= 0


def test_no_pages_and_empty_pages_give_no_groups() -> None:
    for pages in ([], [[], []]):
        result = aggregate(pages, Selection(), "prompt_version")
        assert result.groups == []
        assert result.spans == 0
    assert aggregate([[], []], Selection(), "type").pages == 2


def test_groups_by_type_and_by_name() -> None:
    by_type = aggregate([dataset()], Selection(), "type")
    assert [g.label for g in by_type.groups] == ["chat", "code-review"]
    groups = by_label(by_type.groups)
    assert (groups["chat"].sessions, groups["chat"].requests, groups["chat"].errors) == (2, 5, 1)
    review = groups["code-review"]  # v1 and s6
    assert (review.sessions, review.requests) == (4, 7)
    assert review.cost_usd == pytest.approx(0.029 + 0.001)
    assert review.input_tokens == 360 + 14
    assert review.latency_p50_ms == pytest.approx(200.0)  # [70, 90, 100, 200, 300, 400, 1000]

    by_name = by_label(aggregate([dataset()], Selection(), "name").groups)
    assert list(by_name) == ["auth", "bot", "(none)"]
    assert (by_name["auth"].sessions, by_name["auth"].requests) == (2, 4)
    assert (by_name["bot"].sessions, by_name["bot"].requests) == (1, 3)  # s5 has no name
    assert (by_name["(none)"].sessions, by_name["(none)"].requests) == (3, 5)  # s3, s5, s6
    assert by_name["(none)"].errors == 1


def test_groups_by_session_most_recent_first_with_the_session_fields() -> None:
    result = aggregate([dataset()], Selection(), "session")
    assert [g.label for g in result.groups] == ["s6", "s5", "s4", "s3", "s2", "s1"]
    groups = by_label(result.groups)
    s1 = groups["s1"]
    assert (s1.sessions, s1.requests, s1.input_tokens, s1.output_tokens) == (1, 2, 150, 30)
    assert s1.cost_usd == pytest.approx(0.012)
    assert (s1.session_type, s1.prompt_version, s1.session_name) == ("code-review", "v1", "auth")
    assert s1.duration_s == pytest.approx(90 - 0.105114)  # 13:00:00.105114 to 13:01:30
    assert s1.latency_p50_ms == pytest.approx(200.0)  # [100, 300]
    s5 = groups["s5"]
    assert (s5.session_type, s5.prompt_version, s5.session_name) == ("chat", "v2", None)
    assert (s5.requests, s5.errors) == (2, 1)
    assert s5.cost_usd == pytest.approx(0.001)  # the failed request has no cost
    assert groups["s6"].prompt_version is None


def test_session_groups_starting_together_are_ordered_by_label_descending() -> None:
    rows = [row(session, start=ts(5)) for session in ("b", "c", "a")]
    assert [g.label for g in aggregate([rows], Selection(), "session").groups] == ["c", "b", "a"]


def test_rows_without_tokens_cost_latency_or_session() -> None:
    rows = [
        row("x", usage=None, cost=None, latency=None, model=None),
        {**row("y"), "session": None},  # no session attribute at all
        error_row("x", latency=None),
    ]
    groups = by_label(aggregate([rows], Selection(), "prompt_version").groups)
    v1 = groups["v1"]
    assert (v1.requests, v1.errors, v1.input_tokens, v1.cost_usd) == (2, 1, 0, 0.0)
    assert (v1.latency_p50_ms, v1.latency_p95_ms, v1.models) == (None, None, [])
    assert groups["(none)"].requests == 1


def test_errors_count_only_the_error_status() -> None:
    rows = [row("a", status="OK"), row("a", status="UNSET"), error_row("a"), error_row("b")]
    (only,) = aggregate([rows], Selection(), "prompt_version").groups
    assert (only.sessions, only.requests, only.errors) == (2, 4, 2)


def test_group_filters_add_the_group_to_the_selection() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    selection = Selection({"type": "code-review"}, start, end)
    groups = by_label(aggregate([dataset()], selection, "prompt_version").groups)
    assert groups["v1"].span_filter == (
        "name == 'litellm_request' and session.type == 'code-review' and session.prompt_version == 'v1'"
        " and start_time >= '2026-11-01T00:00:00Z' and start_time < '2026-11-02T00:00:00Z'"
    )
    assert groups["v1"].root_filter == (
        "attributes['session']['type'] == 'code-review' and attributes['session']['prompt_version'] == 'v1'"
    )
    assert groups["(none)"].span_filter == (
        "name == 'litellm_request' and session.type == 'code-review' and session.prompt_version is None"
        " and start_time >= '2026-11-01T00:00:00Z' and start_time < '2026-11-02T00:00:00Z'"
    )
    assert groups["(none)"].root_filter == (
        "attributes['session']['type'] == 'code-review' and attributes['session']['prompt_version'] is None"
    )


def test_selection_filter_without_a_group() -> None:
    selection = Selection({"prompt_version": "v2", "name": "it's"})
    assert selection.span_filter() == (
        "name == 'litellm_request' and session.prompt_version == 'v2' and session.name == 'it\\'s'"
    )
    assert selection.root_filter() == (
        "attributes['session']['prompt_version'] == 'v2' and attributes['session']['name'] == 'it\\'s'"
    )
    # Grouping by a field the selection already fixes keeps one clause for it.
    assert selection.span_filter("prompt_version", "v2") == selection.span_filter()


# --------------------------------------------------------------------------- baseline comparison


def test_compare_with_a_baseline_gives_relative_changes() -> None:
    groups = aggregate([dataset()], Selection(), "prompt_version").groups
    comparisons = compare(groups, "v1")
    assert [(c.group, c.baseline) for c in comparisons] == [("v2", "v1"), ("(none)", "v1")]
    changes = comparisons[0].changes
    assert changes["tokens_per_session"] == pytest.approx((60 / 2) / (905 / 3) - 1)
    assert changes["cost_per_session"] == pytest.approx((0.004 / 2) / (0.029 / 3) - 1)
    assert changes["cost_per_request"] == pytest.approx((0.004 / 5) / (0.029 / 5) - 1)
    assert changes["requests_per_session"] == pytest.approx(0.5)  # 2.5 against 5/3
    assert changes["latency_p50_ms"] == pytest.approx(-0.5)  # 150 against 300
    assert changes["latency_p95_ms"] == pytest.approx(330 / 880 - 1)
    # -90.06% tokens, -79.3% cost per session, -50% p50 latency
    assert (
        comparisons[0].summary()
        == "v2 vs v1: -90% tokens per session, -79% cost per session, -50% p50 latency"
    )


def test_compare_gives_none_where_there_is_nothing_to_divide() -> None:
    base = group("v1", sessions=2, requests=4, cost_usd=0.0, latency_p50_ms=None, latency_p95_ms=100.0)
    other = group("v2", sessions=1, requests=1, cost_usd=0.5, latency_p50_ms=50.0, latency_p95_ms=None)
    (comparison,) = compare([base, other], "v1")
    assert comparison.changes["cost_per_session"] is None  # the baseline cost nothing
    assert comparison.changes["tokens_per_session"] is None  # no tokens at all
    assert comparison.changes["latency_p50_ms"] is None  # the baseline has no latency
    assert comparison.changes["latency_p95_ms"] is None  # this group has none
    assert comparison.changes["requests_per_session"] == pytest.approx(1 / 2 - 1)
    assert comparison.summary() == "v2 vs v1: n/a tokens per session, n/a cost per session, n/a p50 latency"


def test_compare_a_null_key_group_as_baseline() -> None:
    groups = [group(None, sessions=1, requests=2), group("v1", sessions=1, requests=3)]
    (comparison,) = compare(groups, "(none)")
    assert (comparison.group, comparison.baseline) == ("v1", "(none)")
    assert comparison.changes["requests_per_session"] == pytest.approx(0.5)


def test_percent() -> None:
    assert percent(None) == "n/a"
    assert percent(0.0) == "+0%"
    assert percent(0.25) == "+25%"
    assert percent(-0.5) == "-50%"
    assert percent(1.0) == "+100%"
    assert percent(-0.904) == "-90%"


def test_cost_differs_beyond_half_a_percent_or_a_micro_dollar() -> None:
    assert not differs(None, 1.0)
    assert not differs(1.004, 1.0)
    assert differs(1.006, 1.0)
    assert differs(0.0, 0.5)  # Phoenix priced nothing
    assert not differs(0.0000005, 0.0)
    assert differs(0.000002, 0.0)
    g = group("v3", cost_usd=2.0, phoenix_cost_usd=0.0)
    assert g.cost_mismatch and g.derived()["cost_mismatch"] is True


def test_report_totals_over_every_group() -> None:
    groups = aggregate([dataset()], Selection(), "prompt_version").groups
    report = Report(
        "p", "http://phoenix", "prompt_version", {}, None, None, "name == 'litellm_request'", groups
    )
    report = replace(report, **totals(report.groups))
    assert (report.total_groups, report.requests, report.sessions) == (3, 12, 6)
    assert report.cost_usd == pytest.approx(0.034)
    assert (report.start, report.end) == ("2026-11-24T13:00:00.105114Z", "2026-11-24T13:51:02.000000Z")
    report = replace(report, phoenix_cost_usd=0.034)
    assert not report.cost_differs()
    report = replace(report, phoenix_cost_usd=0.030)
    assert report.cost_differs()


# --------------------------------------------------------------------------- paging with a fake Phoenix


class FakePhoenix:
    """Answers the two calls fetch_pages makes: the count (GraphQL) and span queries by time window."""

    def __init__(self, starts: list[datetime]) -> None:
        self.starts = starts
        self.windows: list[tuple[str, str, int]] = []
        self.conditions: list[str] = []

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The count and the first and last start (sorted connections' cursors carry them)."""
        self.conditions.append(variables["f"])

        def edges(moment: datetime) -> dict[str, Any]:
            text = f"7:DATETIME:{moment.isoformat()}"
            return {"edges": [{"cursor": base64.b64encode(text.encode()).decode()}]}

        if not self.starts:
            return {"node": {"recordCount": 0, "first": {"edges": []}, "last": {"edges": []}}}
        first, last = edges(min(self.starts)), edges(max(self.starts))
        return {"node": {"recordCount": len(self.starts), "first": first, "last": last}}

    def query_spans_arrow(self, *args: Any, **kwargs: Any) -> None:
        return None  # as Phoenix does for a column mixing types: the JSON answer is asked for next

    def query_spans(
        self, project: str, columns: Any, condition: str, start: str, end: str, limit: int
    ) -> list[dict[str, Any]]:
        low = datetime.fromisoformat(start.replace("Z", "+00:00"))
        high = datetime.fromisoformat(end.replace("Z", "+00:00"))
        self.windows.append((start, end, limit))
        self.conditions.append(condition)
        chosen = [s for s in self.starts if low <= s < high][:limit]
        return [row(f"s{s.minute}", start=s.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")) for s in chosen]


T0 = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_fetch_pages_cuts_the_window_into_slices_and_fetches_every_span_once() -> None:
    starts = [T0 + timedelta(minutes=m, seconds=s) for m in range(10) for s in (0, 20, 40)]  # 30 spans
    fake = FakePhoenix(starts)
    selection = Selection({"type": "code-review"})
    pages = list(fetch_pages(fake, "proj", "id", selection, page_size=10))  # type: ignore[arg-type]
    # 30 spans at 10 a page: three slices of [13:00, 13:09:40 + 1 us), each under 2 * 10.
    assert len(pages) == 3
    assert [w[2] for w in fake.windows] == [20, 20, 20]
    assert fake.windows[0][0] == "2026-11-24T13:00:00.000000Z"
    assert fake.windows[-1][1] == "2026-11-24T13:09:40.000001Z"  # just after the last span's start
    assert sorted(r["start"] for p in pages for r in p) == sorted(
        s.strftime("%Y-%m-%dT%H:%M:%S.%f000Z") for s in starts
    )
    assert set(fake.conditions) == {selection.span_filter()}


def test_fetch_pages_splits_a_full_slice_in_two() -> None:
    # A burst: 25 spans in the first minute, 5 spread over the other nine.
    starts = [T0 + timedelta(seconds=2 * i) for i in range(25)]
    starts += [T0 + timedelta(minutes=m) for m in (2, 4, 6, 8, 9)]
    fake = FakePhoenix(starts)
    pages = list(fetch_pages(fake, "proj", "id", Selection(), page_size=10))  # type: ignore[arg-type]
    # The spans start in [0 s, 540 s]: three slices of 180 s. The first holds 26 spans (a full
    # answer of 20) and is halved until each part is short of 20: [0, 45 s) still 23, so
    # [0, 22.5 s) 12 and [22.5, 45 s) 11; [45, 90 s) 2, [90, 180 s) 1; then [180, 360 s) 1 and
    # [360 s, 540 s + 1 us) 3.
    assert all(len(page) < 20 for page in pages)
    assert sum(len(page) for page in pages) == 30
    assert [len(page) for page in pages] == [12, 11, 2, 1, 1, 3]
    total = aggregate(pages, Selection(), "prompt_version")
    assert total.spans == 30


def test_fetch_pages_stops_when_too_many_spans_start_in_one_microsecond() -> None:
    fake = FakePhoenix([T0] * 5)
    selection = Selection({}, T0, T0 + timedelta(microseconds=1))
    with pytest.raises(ReportError, match="more than 4 spans start within one microsecond"):
        list(fetch_pages(fake, "proj", "id", selection, page_size=2))  # type: ignore[arg-type]


def test_fetch_pages_without_matching_spans_asks_nothing_more() -> None:
    fake = FakePhoenix([])
    assert list(fetch_pages(fake, "proj", "id", Selection())) == []  # type: ignore[arg-type]
    assert fake.windows == []


def test_phoenix_costs_asks_one_aliased_query() -> None:
    seen: dict[str, Any] = {}

    class Costs:
        def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
            seen.update(query=query, variables=variables)
            return {"node": {"g0": {"total": {"cost": 0.25}}, "g1": {"total": {"cost": None}}}}

    costs = phoenix_costs(Costs(), "pid", {"v1": "cond 1", "v2": "cond 2"})  # type: ignore[arg-type]
    assert costs == {"v1": 0.25, "v2": 0.0}
    assert seen["variables"] == {"id": "pid", "f0": "cond 1", "f1": "cond 2"}
    assert "g0: costSummary(filterCondition: $f0)" in seen["query"]
    assert phoenix_costs(Costs(), "pid", {}) == {}  # type: ignore[arg-type]


def test_phoenix_session_cost_sums_the_sessions_own_cost_in_batches() -> None:
    from claude_session.report import fetch

    queries: list[dict[str, Any]] = []

    class Sessions:
        def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
            queries.append(variables)
            assert "getProjectSessionById(sessionId: $s0) { costSummary" in query
            return {
                alias: None if sid == "unknown" else {"costSummary": {"total": {"cost": 0.5}}}
                for alias, sid in variables.items()
            }

    ids = {f"s{i}" for i in range(fetch.SESSION_BATCH + 1)} | {"unknown"}
    total = fetch.phoenix_session_cost(Sessions(), ids)  # type: ignore[arg-type]
    assert total == pytest.approx(0.5 * (fetch.SESSION_BATCH + 1))
    assert [len(q) for q in queries] == [fetch.SESSION_BATCH, 2]
    assert fetch.phoenix_session_cost(Sessions(), set()) == 0.0  # type: ignore[arg-type]
