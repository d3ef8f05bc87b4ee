"""`claude-session report` and `sessions` against a real Phoenix (issue: comparison reports).

Traffic goes through the real patched proxy, with usage directives so every token count is
known, or, for volume, straight to Phoenix's OTLP/HTTP endpoint in a project of its own.
Expected numbers are computed here from what was sent (prices from LiteLLM's table,
latencies from the spans' own timestamps), never with the report's code.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import report_data, span_loader
from claude_session.cli import main as cli
from claude_session.core.errors import ClaudeSessionError
from claude_session.core.prices import litellm_anthropic_prices
from claude_session.phoenix.client import PhoenixClient
from claude_session.report.build import ReportQuery, build_report
from claude_session.report.fetch import Selection
from claude_session.report.model import Report
from claude_session.report.render import to_json
from claude_session.session import launcher
from claude_session.stack import procs
from tests.support import MODEL, REPO, Stack, wait_for_spans

DOCS = REPO / "docs" / "sessions.md"  # its "## Filtering in Phoenix" section
Usage = tuple[int, int, int, int]  # in, out, cache_read, cache_write


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _the_test_stacks_environment(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """`report` in-process reads its environment at the edge, as it would in a user's shell."""
    for name, value in live_stack.env.items():
        monkeypatch.setenv(name, value)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command line in-process: exit code, stdout, stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, "report", *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def groups_by_label(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {("(none)" if g["key"] is None else g["key"]): g for g in data["groups"]}


def price(usage: Usage) -> float:
    rates = next(p for p in litellm_anthropic_prices() if p.name == MODEL)
    return (
        usage[0] * rates.input
        + usage[1] * rates.output
        + usage[2] * (rates.cache_read or 0.0)
        + usage[3] * (rates.cache_write or 0.0)
    )


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def latency_ms(span: dict[str, Any]) -> float:
    return (when(span["end_time"]) - when(span["start_time"])).total_seconds() * 1000.0


VIEW_QUERIES = {
    # What Phoenix's UI asks for in each tab (its Spans, Traces and Sessions tables).
    "spans": "spans(first: 1000, filterCondition: $f) { edges { node { id } } }",
    "traces": 'spans(first: 1000, filterCondition: "parent_span is None", traceFilterCondition: $f) '
    "{ edges { node { id } } }",
    "sessions": "sessions(first: 1000, sessionFilterCondition: $f) { edges { node { id } } }",
}


def view_count(stack: Stack, view: str, expression: str) -> int:
    """How many rows Phoenix's `view` tab shows for a filter expression."""
    project_id = stack.phoenix.project_id(stack.project)
    query = f"query($id: ID!, $f: String) {{ node(id: $id) {{ ... on Project {{ {VIEW_QUERIES[view]} }} }} }}"
    node = stack.phoenix.graphql(query, {"id": project_id, "f": expression})["node"]
    return len(node["sessions" if view == "sessions" else "spans"]["edges"])


def wait_for_roots(stack: Stack, session_type: str, count: int) -> None:
    """The requests' root spans end after their LLM span and may reach Phoenix a batch later."""
    wait_for_spans(stack, {"session.type": session_type}, count, name="litellm_proxy_request")


# --------------------------------------------------------------------------- proxy traffic


@dataclass(frozen=True)
class Sent:
    session: dict[str, str]  # session_id, session_type, prompt_version, session_name
    usage: Usage | None  # None: the upstream failed (fault 500)

    @property
    def version(self) -> str:
        return self.session["prompt_version"]

    @property
    def session_id(self) -> str:
        return self.session["session_id"]


@dataclass
class Traffic:
    kind: str
    alpha: str
    beta: str
    sent: list[Sent]
    spans: list[dict[str, Any]]  # the litellm_request spans, read back over REST

    def of(self, version: str) -> list[Sent]:
        return [s for s in self.sent if s.version == version]

    def expected(self, version: str) -> dict[str, Any]:
        sent = self.of(version)
        ok = [s.usage for s in sent if s.usage]
        latencies = [
            latency_ms(span) for span in self.spans if span["attributes"]["session.prompt_version"] == version
        ]
        return {
            "sessions": len({s.session_id for s in sent}),
            "requests": len(sent),
            "errors": sum(1 for s in sent if s.usage is None),
            "input_tokens": sum(u[0] for u in ok),
            "output_tokens": sum(u[1] for u in ok),
            "cache_read_tokens": sum(u[2] for u in ok),
            "cache_write_tokens": sum(u[3] for u in ok),
            "cost_usd": sum(price(u) for u in ok),
            "latency_p50_ms": float(np.percentile(latencies, 50)),
            "latency_p95_ms": float(np.percentile(latencies, 95)),
        }


U1: Usage = (100, 20, 30, 5)
U2: Usage = (50, 10, 0, 0)
U3: Usage = (60, 15, 400, 0)


def _send(stack: Stack, kind: str, plan: list[tuple[str, str | None, list[Usage | None]]]) -> list[Sent]:
    sent = []
    for version, name, usages in plan:
        session = launcher.Session.new(kind, version, name).as_metadata()
        for index, usage in enumerate(usages):
            directive = (
                "[[fault:500]]" if usage is None else "[[usage in={} out={} cache_read={} cache_write={}]]"
            )
            prompt = "compare me " + directive.format(*(usage or ()))
            response = stack.messages(session, stream=index % 2 == 1, prompt=prompt)
            assert response.status_code == (500 if usage is None else 200), response.text
            sent.append(Sent(session, usage))
    return sent


@pytest.fixture(scope="module")
def traffic(live_stack: Stack) -> Traffic:
    """Five sessions of one unique type: v1 three sessions of two requests, v2 two of three (one fails)."""
    tag = uuid.uuid4().hex[:6]
    kind, alpha, beta = f"report-{tag}", f"alpha {tag}", f"beta {tag}"  # names with a space
    plan: list[tuple[str, str | None, list[Usage | None]]] = [
        ("v1", alpha, [U1, U2]),
        ("v1", alpha, [U2, U1]),
        ("v1", alpha, [U1, U1]),
        ("v2", beta, [U3, U3, U3]),
        ("v2", beta, [U3, None, U3]),
    ]
    sent = _send(live_stack, kind, plan)
    spans = wait_for_spans(live_stack, {"session.type": kind}, len(sent))
    assert len(spans) == len(sent)
    wait_for_roots(live_stack, kind, len(sent))
    return Traffic(kind, alpha, beta, sent, spans)


def test_numbers_equal_sums_of_what_was_sent(traffic: Traffic, capsys: pytest.CaptureFixture[str]) -> None:
    data = report_json(capsys, "--type", traffic.kind)
    groups = groups_by_label(data)
    assert list(groups) == ["v1", "v2"]
    for version, group in groups.items():
        expected = traffic.expected(version)
        for key in ("sessions", "requests", "errors", "input_tokens", "output_tokens"):
            assert group[key] == expected[key], (version, key)
        assert group["cache_read_tokens"] == expected["cache_read_tokens"]
        assert group["cache_write_tokens"] == expected["cache_write_tokens"]
        assert group["cost_usd"] == pytest.approx(expected["cost_usd"], rel=1e-9)
        assert group["cost_per_session"] == pytest.approx(expected["cost_usd"] / expected["sessions"])
        assert group["cost_per_request"] == pytest.approx(expected["cost_usd"] / expected["requests"])
        assert group["input_tokens_per_session"] == pytest.approx(
            expected["input_tokens"] / expected["sessions"]
        )
        assert group["latency_p50_ms"] == pytest.approx(expected["latency_p50_ms"], abs=0.1)
        assert group["latency_p95_ms"] == pytest.approx(expected["latency_p95_ms"], abs=0.1)
        ttfts = [  # streamed requests only (claude_session.ttft_ms, patch 0009)
            span["attributes"]["claude_session.ttft_ms"]
            for span in traffic.spans
            if span["attributes"]["session.prompt_version"] == version
            and "claude_session.ttft_ms" in span["attributes"]
        ]
        assert ttfts and group["ttft_p50_ms"] == pytest.approx(float(np.percentile(ttfts, 50)), abs=0.01)
        assert group["models"] == [MODEL]
        assert not group["cost_mismatch"]  # the stack registered LiteLLM's prices in Phoenix
    total = sum(traffic.expected(v)["cost_usd"] for v in ("v1", "v2"))
    assert data["phoenix_cost_usd"] == pytest.approx(total, rel=1e-6)
    assert "llm.cost.total" in data["cost_source"]
    assert data["requests"] == len(traffic.sent)


def test_a_program_gets_the_same_report_from_build_report(
    traffic: Traffic, live_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """build_report is the pipeline the command line prints: called directly, it returns the
    same figures, and they are the sums of what was sent."""
    client = PhoenixClient(live_stack.settings.phoenix_base, timeout=60)
    query = ReportQuery(Selection({"type": traffic.kind}), baseline="v1")
    built = build_report(query, client, live_stack.settings.project)
    assert [g.label for g in built.groups] == ["v1", "v2"]
    for group in built.groups:
        expected = traffic.expected(group.label)
        assert (group.sessions, group.requests, group.errors) == (
            expected["sessions"],
            expected["requests"],
            expected["errors"],
        )
        assert group.cost_usd == pytest.approx(expected["cost_usd"], rel=1e-9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.groups[0].cost_usd = 0.0  # type: ignore[misc]
    printed = report_json(capsys, "--type", traffic.kind, "--baseline", "v1")
    mine = json.loads(to_json(built))
    for data in (printed, mine):
        data.pop("timing")
    assert mine == printed


def test_baseline_deltas_and_too_few_sessions(traffic: Traffic, capsys: pytest.CaptureFixture[str]) -> None:
    # --min-sessions is deprecated (the verdicts judge from the intervals); given, it still warns.
    data = report_json(capsys, "--type", traffic.kind, "--baseline", "v1", "--min-sessions", "5")
    v1, v2 = traffic.expected("v1"), traffic.expected("v2")

    def tokens(e: dict[str, Any]) -> int:
        return e["input_tokens"] + e["output_tokens"] + e["cache_read_tokens"] + e["cache_write_tokens"]

    wanted = {
        "tokens_per_session": (tokens(v2) / v2["sessions"]) / (tokens(v1) / v1["sessions"]) - 1,
        "cost_per_session": (v2["cost_usd"] / v2["sessions"]) / (v1["cost_usd"] / v1["sessions"]) - 1,
        "cost_per_request": (v2["cost_usd"] / v2["requests"]) / (v1["cost_usd"] / v1["requests"]) - 1,
        "requests_per_session": (v2["requests"] / v2["sessions"]) / (v1["requests"] / v1["sessions"]) - 1,
        "latency_p50_ms": v2["latency_p50_ms"] / v1["latency_p50_ms"] - 1,
        "latency_p95_ms": v2["latency_p95_ms"] / v1["latency_p95_ms"] - 1,
    }
    (comparison,) = data["comparisons"]
    assert (comparison["group"], comparison["baseline"]) == ("v2", "v1")
    for metric, value in wanted.items():
        assert comparison["changes"][metric] == pytest.approx(value, rel=1e-6, abs=2e-3), metric
    assert len([w for w in data["warnings"] if "too few" in w]) == 2  # 3 and 2 sessions, under 5

    code, out, _ = run(capsys, "report", "--type", traffic.kind, "--baseline", "v1", "--min-sessions", "5")
    assert code == 0
    summary = (
        f"v2 vs v1: {wanted['tokens_per_session'] * 100:+.0f}% tokens per session, "
        f"{wanted['cost_per_session'] * 100:+.0f}% cost per session"
    )
    assert summary in out
    assert "warning: v2 has 2 sessions (fewer than 5): too few to tell" in out


def test_table_fits_100_columns_and_shows_the_numbers(traffic: Traffic, live_stack: Stack) -> None:
    done = live_stack.launcher("report", "--type", traffic.kind, "--baseline", "v1")  # the real command
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    table = lines[: lines.index("Phoenix filters for these spans (Spans tab; then Traces or Sessions tab):")]
    assert all(len(line) <= 100 for line in table), max(table, key=len)

    def row(label: str) -> list[str]:
        return next(line for line in table if line.startswith(label)).split()[len(label.split()) :]

    assert row("sessions") == ["3", "2"]
    assert row("requests") == ["6", "6"]
    assert row("errors") == ["0", "1"]
    v1 = traffic.expected("v1")
    assert row("input tokens") == [f"{v1['input_tokens']:,}", f"{traffic.expected('v2')['input_tokens']:,}"]
    # Half of each group's requests streamed: their spans carry the time to first token.
    first_token = row("first token p50")
    assert first_token[1::2] == ["ms", "ms"] and all(float(v) > 0 for v in first_token[::2]), first_token
    assert "cost: LiteLLM's cache-aware cost on each span (llm.cost.total)" in done.stdout
    assert f"name == 'litellm_request' and session.type == '{traffic.kind}'" in done.stdout


def test_filters_select_exactly_the_right_spans(traffic: Traffic, capsys: pytest.CaptureFixture[str]) -> None:
    def requests(*argv: str) -> dict[str, int]:
        return {label: g["requests"] for label, g in groups_by_label(report_json(capsys, *argv)).items()}

    kind = traffic.kind
    assert requests("--type", kind, "--version", "v2") == {"v2": 6}
    assert requests("--type", kind, "--name", traffic.alpha) == {"v1": 6}
    assert requests("--name", traffic.beta) == {"v2": 6}  # a name with a space, no type needed
    first_v2 = traffic.of("v2")[0].session_id
    assert requests("--session", first_v2) == {"v2": 3}
    assert requests("--type", kind, "--group-by", "name") == {traffic.alpha: 6, traffic.beta: 6}
    assert requests("--type", kind, "--since", "2h") == {"v1": 6, "v2": 6}
    start = min(when(s["start_time"]) for s in traffic.spans).replace(microsecond=0)
    assert requests("--type", kind, "--from", start.isoformat()) == {"v1": 6, "v2": 6}
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, _ = run(capsys, "report", "--type", kind, "--from", future)
    assert code == 0
    assert out.startswith("no LLM requests in project 'tests'") and out.count("\n") == 1
    code, out, _ = run(capsys, "report", "--type", kind, "--to", "2001-01-01")
    assert (code, out.count("\n")) == (0, 1)


def test_printed_filters_select_the_same_spans_in_phoenix(
    traffic: Traffic, live_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for group_by in ("version", "name", "session"):
        data = report_json(capsys, "--type", traffic.kind, "--group-by", group_by)
        for group in data["groups"]:
            assert view_count(live_stack, "spans", group["span_filter"]) == group["requests"]
            assert view_count(live_stack, "traces", group["root_filter"]) >= group["requests"]
            assert view_count(live_stack, "sessions", group["root_filter"]) >= group["sessions"]
    # With the type in the expression the Traces and Sessions tabs match exactly too.
    data = report_json(capsys, "--type", traffic.kind)
    for group in data["groups"]:
        assert view_count(live_stack, "traces", group["root_filter"]) == group["requests"]
        assert view_count(live_stack, "sessions", group["root_filter"]) == group["sessions"]


def test_session_list(traffic: Traffic, capsys: pytest.CaptureFixture[str]) -> None:
    data = report_json(capsys, "--type", traffic.kind, "--group-by", "session")
    order = list(dict.fromkeys(s.session_id for s in traffic.sent))[::-1]  # most recent first
    assert [g["key"] for g in data["groups"]] == order
    for group in data["groups"]:
        sent = [s for s in traffic.sent if s.session_id == group["key"]]
        assert group["session_type"] == traffic.kind
        assert group["prompt_version"] == sent[0].version
        assert group["session_name"] == sent[0].session["session_name"]
        assert group["requests"] == len(sent)
        assert group["cost_usd"] == pytest.approx(sum(price(s.usage) for s in sent if s.usage), rel=1e-9)
        spans = [s for s in traffic.spans if s["attributes"]["session.id"] == group["key"]]
        first = min(when(s["start_time"]) for s in spans)
        last = max(when(s["end_time"]) for s in spans)
        assert group["duration_s"] == pytest.approx((last - first).total_seconds(), abs=1e-3)

    code, out, err = run(capsys, "sessions", "--type", traffic.kind, "--limit", "3")
    assert code == 0, err
    assert "the 3 most recent of 5 sessions" in out
    assert all(len(line) <= 100 for line in out.splitlines() if not line.startswith("project "))
    for session_id in order[:3]:
        assert session_id in out
    assert order[3] not in out


def test_chart_is_html_with_one_series_per_group(
    traffic: Traffic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "report.html"
    code, _, err = run(
        capsys, "report", "--type", traffic.kind, "--group-by", "session", "--chart", str(chart)
    )
    assert code == 0, err

    class Series(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.series: list[str] = []
            self.bars: dict[str, int] = {}
            self.external: list[str] = []
            self.data = ""
            self._current: str | None = None
            self._in_data = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "g" and values.get("class") == "series":
                self._current = values["data-group"] or ""
                self.series.append(self._current)
            if tag == "rect" and self._current is not None:
                self.bars[self._current] = self.bars.get(self._current, 0) + 1
            if tag in ("img", "script", "link") and (values.get("src") or values.get("href")):
                self.external.append(tag)
            self._in_data = tag == "script" and values.get("id") == "report-data"

        def handle_endtag(self, tag: str) -> None:
            if tag == "g":
                self._current = None
            self._in_data = False

        def handle_data(self, data: str) -> None:
            if self._in_data:
                self.data += data

    page = chart.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    parser = Series()
    parser.feed(page)
    sessions = list(dict.fromkeys(s.session_id for s in traffic.sent))[::-1]
    assert parser.series == sessions
    assert all(parser.bars[s] == 3 for s in sessions)  # tokens, cost, latency
    assert parser.external == []
    assert len(json.loads(parser.data)["groups"]) == 5

    picture = tmp_path / "report.png"
    code, _, err = run(capsys, "report", "--type", traffic.kind, "--baseline", "v1", "--chart", str(picture))
    assert code == 0, err
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run(capsys, "report", "--type", traffic.kind, "--chart", str(tmp_path / "no/dir/r.png"))
    assert code != 0 and err.count("\n") == 1 and err.startswith("claude-session: --chart")


def test_json_round_trips_and_csv_agrees(traffic: Traffic, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "--type", traffic.kind, "--baseline", "v1", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert Report.from_dict(data).to_dict() == data
    assert json.dumps(Report.from_dict(json.loads(out)).to_dict(), indent=2) + "\n" == out

    code, text, _ = run(capsys, "report", "--type", traffic.kind, "--baseline", "v1", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["group"] for r in rows] == ["v1", "v2"]
    for row, group in zip(rows, data["groups"], strict=True):
        for key in ("sessions", "requests", "errors", "input_tokens", "cache_read_tokens"):
            assert int(row[key]) == group[key]
        assert float(row["cost_usd"]) == pytest.approx(group["cost_usd"], rel=1e-9)
        assert row["span_filter"] == group["span_filter"]
    assert float(rows[1]["change_cost_per_session"]) == pytest.approx(
        data["comparisons"][0]["changes"]["cost_per_session"], rel=1e-9
    )


def test_error_cases_are_one_line(live_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", "--group-by", "colour")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "unknown group key 'colour'" in err

    code, out, err = run(capsys, "report", "--phoenix-url", f"http://127.0.0.1:{procs.free_port()}")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "Phoenix is not reachable" in err

    code, out, err = run(capsys, "report", "--type", f"never-{uuid.uuid4().hex[:6]}")
    assert code == 0 and out.count("\n") == 1 and out.startswith("no LLM requests")

    code, out, err = run(capsys, "report", "--project", f"nowhere-{uuid.uuid4().hex[:6]}")
    assert (code, out) == (1, "") and err.count("\n") == 1 and "has no project" in err

    code, out, err = run(capsys, "report", "--since", "soon")
    assert (code, out) == (2, "") and err.count("\n") == 1


def test_unknown_baseline_is_a_usage_error(traffic: Traffic, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", "--type", traffic.kind, "--baseline", "v9")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "--baseline v9" in err and "v1, v2" in err


# --------------------------------------------------------------------------- the docs' filter expressions


@dataclass(frozen=True)
class DocValues:
    kind: str
    other_kind: str
    v1: str
    v2: str
    name: str
    session_a: str
    since: str

    def substitute(self, expression: str) -> str:
        """The docs' example values replaced by this test's unique ones."""
        for example, ours in (
            ("'code-review-20251101-143022-a3f2b1'", self.session_a),
            ("'code-review'", self.kind),
            ("'v1'", self.v1),
            ("'v2'", self.v2),
            ("'auth-module'", self.name),
            ("'2025-11-01T00:00:00Z'", self.since),
        ):
            expression = expression.replace(example, f"'{ours}'")
        return expression


def doc_expressions() -> list[tuple[str, str]]:
    """(tab, expression) for every filter in the docs section's tables, tab from the ### heading."""
    found: list[tuple[str, str]] = []
    tab = None
    section = DOCS.read_text().split("\n## Filtering in Phoenix\n", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        if line.startswith("### "):
            tab = line[4:].split()[0].lower()
        match = re.fullmatch(r"\|.*\|\s*`([^`]+)`\s*\|", line.strip())
        if match and tab:
            found.append((tab, match.group(1)))
    return found


Pick = Callable[[Sent, DocValues], bool]

# Every documented expression: which requests it must select, counted as the tab counts.
# "requests": one litellm_request span (Spans tab) or one trace (Traces tab) per request;
# "span pairs": the request's two tagged spans; "sessions": distinct sessions.
DOCUMENTED: dict[tuple[str, str], tuple[Pick, str]] = {
    ("spans", "name == 'litellm_request' and session.type == 'code-review'"): (
        lambda s, v: s.session["session_type"] == v.kind,
        "requests",
    ),
    ("spans", "name == 'litellm_request' and session.prompt_version == 'v2'"): (
        lambda s, v: s.version == v.v2,
        "requests",
    ),
    ("spans", "name == 'litellm_request' and session.name == 'auth-module'"): (
        lambda s, v: s.session.get("session_name") == v.name,
        "requests",
    ),
    (
        "spans",
        "name == 'litellm_request' and session.type == 'code-review' and session.prompt_version == 'v2'",
    ): (lambda s, v: s.session["session_type"] == v.kind and s.version == v.v2, "requests"),
    (
        "spans",
        "name == 'litellm_request' and session.type == 'code-review' and session.prompt_version == 'v2' "
        "and session.name == 'auth-module'",
    ): (
        lambda s, v: (
            s.session["session_type"] == v.kind
            and s.version == v.v2
            and s.session.get("session_name") == v.name
        ),
        "requests",
    ),
    (
        "spans",
        "name == 'litellm_request' and session.type == 'code-review' and session.prompt_version == 'v2' "
        "and status_code == 'ERROR'",
    ): (
        lambda s, v: s.session["session_type"] == v.kind and s.version == v.v2 and s.usage is None,
        "requests",
    ),
    ("spans", "name == 'litellm_request' and session.id == 'code-review-20251101-143022-a3f2b1'"): (
        lambda s, v: s.session_id == v.session_a,
        "requests",
    ),
    (
        "spans",
        "name == 'litellm_request' and session.type == 'code-review' "
        "and start_time >= '2025-11-01T00:00:00Z'",
    ): (lambda s, v: s.session["session_type"] == v.kind, "requests"),
    ("spans", "session.type == 'code-review'"): (
        lambda s, v: s.session["session_type"] == v.kind,
        "span pairs",
    ),
    ("spans", "attributes['session']['type'] == 'code-review'"): (
        lambda s, v: s.session["session_type"] == v.kind,
        "span pairs",
    ),
    ("traces", "attributes['session']['type'] == 'code-review'"): (
        lambda s, v: s.session["session_type"] == v.kind,
        "requests",
    ),
    ("traces", "attributes['session']['prompt_version'] == 'v2'"): (
        lambda s, v: s.version == v.v2,
        "requests",
    ),
    ("traces", "attributes['session']['name'] == 'auth-module'"): (
        lambda s, v: s.session.get("session_name") == v.name,
        "requests",
    ),
    (
        "traces",
        "attributes['session']['type'] == 'code-review' and attributes['session']['prompt_version'] == 'v2'",
    ): (lambda s, v: s.session["session_type"] == v.kind and s.version == v.v2, "requests"),
    ("traces", "attributes['session']['id'] == 'code-review-20251101-143022-a3f2b1'"): (
        lambda s, v: s.session_id == v.session_a,
        "requests",
    ),
    ("sessions", "attributes['session']['type'] == 'code-review'"): (
        lambda s, v: s.session["session_type"] == v.kind,
        "sessions",
    ),
    ("sessions", "attributes['session']['prompt_version'] == 'v2'"): (
        lambda s, v: s.version == v.v2,
        "sessions",
    ),
    ("sessions", "attributes['session']['name'] == 'auth-module'"): (
        lambda s, v: s.session.get("session_name") == v.name,
        "sessions",
    ),
    (
        "sessions",
        "attributes['session']['type'] == 'code-review' and attributes['session']['prompt_version'] == 'v2'",
    ): (lambda s, v: s.session["session_type"] == v.kind and s.version == v.v2, "sessions"),
    (
        "sessions",
        "attributes['session']['type'] == 'code-review' and attributes['session']['prompt_version'] == 'v2' "
        "and attributes['session']['name'] == 'auth-module'",
    ): (
        lambda s, v: (
            s.session["session_type"] == v.kind
            and s.version == v.v2
            and s.session.get("session_name") == v.name
        ),
        "sessions",
    ),
}


def expected_count(sent: list[Sent], values: DocValues, pick: Pick, unit: str) -> int:
    chosen = [s for s in sent if pick(s, values)]
    if unit == "sessions":
        return len({s.session_id for s in chosen})
    return len(chosen) * (2 if unit == "span pairs" else 1)


def test_every_documented_filter_returns_the_expected_count(live_stack: Stack) -> None:
    documented = doc_expressions()
    assert set(documented) == set(DOCUMENTED), (
        "docs/sessions.md's filters and this test list different filters"
    )
    tag = uuid.uuid4().hex[:6]
    since = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kind, other, v1, v2, name = (
        f"docs-{tag}",
        f"docs-other-{tag}",
        f"v1-{tag}",
        f"v2-{tag}",
        f"auth module {tag}",
    )
    sent = _send(
        live_stack,
        kind,
        [(v1, name, [U1, U2]), (v2, name, [U3, U3, U3]), (v2, None, [U1, None])],
    )
    sent += _send(live_stack, other, [(v2, name, [U2])])
    for session_type in (kind, other):
        count = sum(1 for s in sent if s.session["session_type"] == session_type)
        wait_for_spans(live_stack, {"session.type": session_type}, count)
        wait_for_roots(live_stack, session_type, count)
    values = DocValues(kind, other, v1, v2, name, sent[0].session_id, since)
    for tab, expression in documented:
        pick, unit = DOCUMENTED[(tab, expression)]
        wanted = expected_count(sent, values, pick, unit)
        assert wanted > 0, expression
        assert view_count(live_stack, tab, values.substitute(expression)) == wanted, (tab, expression)
    # What the docs warn about.
    assert view_count(live_stack, "spans", f"attributes['session.type'] == '{kind}'") == 0
    for tab in ("traces", "sessions"):
        for expression in (f"session.type == '{kind}'", "name == 'litellm_request'"):
            with pytest.raises(ClaudeSessionError, match="invalid name"):
                view_count(live_stack, tab, expression)


# --------------------------------------------------------------------------- volume, over OTLP


@dataclass
class Volume:
    project: str
    specs: list[Any]  # report_bench.SpanSpec


UNPRICED = "claude-unpriced-test-model"


@pytest.fixture(scope="module")
def volume(live_stack: Stack) -> Iterator[Volume]:
    """1,200 LLM spans in 12 sessions over 20 days, sent straight to Phoenix in their own project.

    v2 spans carry a time to first token; v3 spans name a model Phoenix has no price for.
    """
    tag = uuid.uuid4().hex[:6]
    project = f"report-volume-{tag}"
    specs = [
        replace(
            spec,
            session_id=f"{spec.session_id}-{tag}",
            ttft_ms=round(spec.latency_ms * 0.3, 3)
            if spec.prompt_version == "v2" and not spec.error
            else None,
            model=UNPRICED if spec.prompt_version == "v3" else spec.model,
        )
        for spec in report_data.synthetic_specs(1200, 12, seed=3, days=20)
    ]
    span_loader.load(live_stack.phoenix, specs, project, payload_bytes=0)  # checks all were stored
    yield Volume(project, specs)


def _expected_volume(specs: list[Any]) -> dict[str, Any]:
    ok = [s for s in specs if not s.error]
    ttfts = [s.ttft_ms for s in specs if s.ttft_ms is not None]
    latencies = [s.latency_ms for s in specs]
    return {
        "sessions": len({s.session_id for s in specs}),
        "requests": len(specs),
        "errors": len(specs) - len(ok),
        "input_tokens": sum(s.input_tokens for s in ok),
        "output_tokens": sum(s.output_tokens for s in ok),
        "cache_read_tokens": sum(s.cache_read for s in ok),
        "cache_write_tokens": sum(s.cache_write for s in ok),
        "cost_usd": sum(s.cost for s in specs),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
        "ttft_p50_ms": float(np.percentile(ttfts, 50)) if ttfts else None,
    }


def _check(group: dict[str, Any], specs: list[Any]) -> None:
    expected = _expected_volume(specs)
    for key in ("sessions", "requests", "errors", "input_tokens", "output_tokens"):
        assert group[key] == expected[key], key
    assert group["cache_read_tokens"] == expected["cache_read_tokens"]
    assert group["cache_write_tokens"] == expected["cache_write_tokens"]
    assert group["cost_usd"] == pytest.approx(expected["cost_usd"], rel=1e-9)
    # Phoenix keeps microseconds; the spans were sent with nanoseconds.
    assert group["latency_p50_ms"] == pytest.approx(expected["latency_p50_ms"], abs=0.01)
    assert group["latency_p95_ms"] == pytest.approx(expected["latency_p95_ms"], abs=0.01)
    if expected["ttft_p50_ms"] is None:
        assert group["ttft_p50_ms"] is None
    else:
        assert group["ttft_p50_ms"] == pytest.approx(expected["ttft_p50_ms"], abs=1e-6)


def test_volume_numbers_paging_and_cost_mismatch(volume: Volume, capsys: pytest.CaptureFixture[str]) -> None:
    # Paging is how the uncached path reads Phoenix (the cache's own tests: test_report_cache.py).
    paged = report_json(capsys, "--project", volume.project, "--page-size", "150", "--no-cache")
    whole = report_json(capsys, "--project", volume.project, "--no-cache")
    assert paged["timing"]["pages"] > 4 and whole["timing"]["pages"] == 1
    assert paged["timing"]["spans"] == whole["timing"]["spans"] == len(volume.specs)
    for a, b in zip(paged["groups"], whole["groups"], strict=True):  # sums in another order
        assert {k: v for k, v in a.items() if "cost" not in k} == {
            k: v for k, v in b.items() if "cost" not in k
        }
        assert a["cost_usd"] == pytest.approx(b["cost_usd"], rel=1e-12)
    groups = groups_by_label(whole)
    assert list(groups) == ["v1", "v2", "v3"]
    for version, group in groups.items():
        _check(group, [s for s in volume.specs if s.prompt_version == version])
    # Phoenix priced the v3 spans at $0 (unknown model); v1 and v2 agree with LiteLLM.
    assert groups["v3"]["cost_mismatch"] and groups["v3"]["phoenix_cost_usd"] == 0
    assert not groups["v1"]["cost_mismatch"] and not groups["v2"]["cost_mismatch"]
    assert groups["v1"]["phoenix_cost_usd"] == pytest.approx(groups["v1"]["cost_usd"], rel=5e-3)
    (warning,) = [w for w in whole["warnings"] if "Phoenix's own cost" in w]
    assert warning.startswith("v3:") and UNPRICED in warning


def test_volume_by_type_with_baseline(volume: Volume, capsys: pytest.CaptureFixture[str]) -> None:
    data = report_json(capsys, "--project", volume.project, "--group-by", "type", "--baseline", "code-review")
    groups = groups_by_label(data)
    kinds = sorted({s.session_type for s in volume.specs})
    assert sorted(groups) == kinds
    for kind in kinds:
        _check(groups[kind], [s for s in volume.specs if s.session_type == kind])
    base = _expected_volume([s for s in volume.specs if s.session_type == "code-review"])
    for comparison in data["comparisons"]:
        ours = _expected_volume([s for s in volume.specs if s.session_type == comparison["group"]])
        wanted = (ours["cost_usd"] / ours["sessions"]) / (base["cost_usd"] / base["sessions"]) - 1
        assert comparison["changes"]["cost_per_session"] == pytest.approx(wanted, rel=1e-9)


def test_volume_window_and_sessions(volume: Volume, capsys: pytest.CaptureFixture[str]) -> None:
    starts = sorted(s.start_ns for s in volume.specs)
    cut = datetime.fromtimestamp(starts[len(starts) // 2] // 1_000_000_000, UTC)
    cut_ns = int(cut.timestamp()) * 1_000_000_000
    later = [s for s in volume.specs if s.start_ns >= cut_ns]
    data = report_json(capsys, "--project", volume.project, "--from", cut.isoformat(), "--group-by", "type")
    assert sum(g["requests"] for g in data["groups"]) == len(later)
    earlier = report_json(capsys, "--project", volume.project, "--to", cut.isoformat())
    assert sum(g["requests"] for g in earlier["groups"]) == len(volume.specs) - len(later)
    assert data["window_start"] == cut.strftime("%Y-%m-%dT%H:%M:%S.000000Z")

    data = report_json(capsys, "--project", volume.project, "--group-by", "session")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    sessions = {}
    for spec in volume.specs:
        sessions.setdefault(spec.session_id, []).append(spec)
    assert len(data["groups"]) == len(sessions)
    assert [g["start"] for g in data["groups"]] == sorted((g["start"] for g in data["groups"]), reverse=True)
    for group in data["groups"]:
        specs = sessions[group["key"]]
        first = epoch + timedelta(microseconds=min(s.start_ns for s in specs) / 1000)
        assert abs(when(group["start"]) - first) <= timedelta(microseconds=1)  # Phoenix keeps microseconds
        assert group["requests"] == len(specs)
        assert group["session_type"] == specs[0].session_type
        assert group["cost_usd"] == pytest.approx(sum(s.cost for s in specs), rel=1e-9)
