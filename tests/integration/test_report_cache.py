"""The report cache against a real Phoenix: the cached report is the uncached one, byte for byte
(its JSON without the timing), after new spans, after a spool replay of old spans, after the
project is deleted and recreated; a corrupted cache file is rebuilt with one line; the file is
owner-only and holds no prompt text and no secret.

Spans go straight to Phoenix's OTLP/HTTP endpoint (bench/span_loader.py), each test module in a
project of its own, with start times chosen to land before or after what the cache holds.
"""

from __future__ import annotations

import json
import math
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bench import report_data, span_loader
from claude_session.cli import main as cli
from claude_session.phoenix.annotations import (
    CHECK,
    CODE,
    FAILED,
    HUMAN,
    RATING,
    SessionAnnotation,
    annotate_session,
)
from claude_session.phoenix.client import PhoenixClient
from claude_session.report.cache.store import cache_file
from tests.support import Stack

PROMPT_MARKER = "PROMPT-MARKER-5f1c"
KEY = "sk-ant-api03-CACHE-TEST-SECRET-9d2e"
DAY_NS = 86_400 * 10**9


@pytest.fixture(autouse=True)
def _the_test_stacks_environment(live_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in live_stack.env.items():
        monkeypatch.setenv(name, value)


@dataclass
class Project:
    name: str
    stack: Stack

    @property
    def client(self) -> PhoenixClient:
        return self.stack.phoenix

    def cache(self) -> Path:
        return cache_file(self.stack.state.report_cache, self.client.base_url, self.name)

    def send(self, specs: list[report_data.SpanSpec]) -> None:
        """Spans straight to Phoenix's OTLP endpoint, carrying a prompt and a key in their payload."""
        payload = json.dumps({"system": PROMPT_MARKER * 20, "headers": {"x-api-key": KEY}})
        before = span_loader.stored_count(self.client, self.name)
        ids = span_loader.SpecIds()
        provider = span_loader.tracer_provider(self.client.base_url, self.name, ids)
        try:
            span_loader.send(provider, ids, specs, payload)
        finally:
            provider.shutdown()
        stored = span_loader.wait_stored(self.client, self.name, before + len(specs), timeout=120)
        assert stored == before + len(specs)


def specs(
    count: int, sessions: int, seed: int, tag: str, days: float, end_ns: int
) -> list[report_data.SpanSpec]:
    return [
        replace(
            s, session_id=f"{s.session_id}-{tag}", ttft_ms=round(s.latency_ms * 0.3, 3) if i % 3 else None
        )
        for i, s in enumerate(
            report_data.synthetic_specs(count, sessions, seed=seed, days=days, end_ns=end_ns)
        )
    ]


@pytest.fixture(scope="module")
def project(live_stack: Stack) -> Iterator[Project]:
    tag = uuid.uuid4().hex[:6]
    made = Project(f"report-cache-{tag}", live_stack)
    made.send(specs(400, 8, seed=11, tag=tag, days=10, end_ns=time.time_ns() - DAY_NS))
    yield made


def report(capsys: pytest.CaptureFixture[str], project: str, *argv: str) -> tuple[dict[str, Any], str]:
    code = cli.main(["report", "--project", project, "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    data.pop("timing")
    return data, err


def _phoenix_figures(data: dict[str, Any]) -> list[float | None]:
    """Take out Phoenix's own cost figures (the report's cross-check, asked of Phoenix on every
    report, cached or not): Phoenix sums floats in its database, and PostgreSQL's sum of doubles
    may come out one bit apart from one query to the next (seen once in CI)."""
    figures = [data.pop("phoenix_cost_usd", None)]
    figures += [group.pop("phoenix_cost_usd", None) for group in data.get("groups", [])]
    return figures


def both(capsys: pytest.CaptureFixture[str], project: str, *argv: str) -> tuple[str, str, str]:
    """The cached and the uncached report's JSON text (sorted keys), and the cached run's stderr;
    Phoenix's own figures must agree to within float rounding, everything else exactly."""
    cached, err = report(capsys, project, *argv)
    direct, _ = report(capsys, project, *argv, "--no-cache")
    for mine, theirs in zip(_phoenix_figures(cached), _phoenix_figures(direct), strict=True):
        assert (mine is None) == (theirs is None)
        assert mine is None or theirs is None or math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=1e-15)
    return json.dumps(cached, sort_keys=True), json.dumps(direct, sort_keys=True), err


VIEWS = [
    (),
    ("--group-by", "type", "--baseline", "code-review"),
    ("--group-by", "session"),
    ("--group-by", "model"),
]


def fetched(capsys: pytest.CaptureFixture[str], project: str, *argv: str) -> int:
    """How many spans a cached report read from Phoenix (its timing's `fetched`)."""
    code = cli.main(["report", "--project", project, "--format", "json", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return int(json.loads(out)["timing"]["fetched"])


def test_cold_then_warm_equal_the_uncached_report(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    cached, direct, err = both(capsys, project.name)
    assert cached == direct and json.loads(cached)["requests"] == 400
    assert "report cache: reading 400 spans from Phoenix" in err and err.count("\n") == 1
    for view in VIEWS:
        cached, direct, err = both(capsys, project.name, *view)
        assert cached == direct, view
        assert err == ""  # warm: nothing to say
    assert fetched(capsys, project.name) == 0  # nothing new: nothing read


def test_new_spans_and_a_spool_replay_of_old_spans(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    both(capsys, project.name)  # the cache holds everything so far
    now = time.time_ns()
    project.send(specs(60, 2, seed=12, tag="new" + project.name[-6:], days=0.01, end_ns=now))
    assert fetched(capsys, project.name) == 60  # the new spans' window only (the rest is a day older)
    cached, direct, _ = both(capsys, project.name)
    assert cached == direct and json.loads(cached)["requests"] == 460
    # What the spool replays after an outage: spans that started days before the cache's newest.
    project.send(specs(50, 2, seed=13, tag="replay" + project.name[-6:], days=3, end_ns=now - 4 * DAY_NS))
    assert fetched(capsys, project.name) >= 50  # the replayed spans, in the window they started in
    for view in VIEWS:
        cached, direct, _ = both(capsys, project.name, *view)
        assert cached == direct, view
    assert json.loads(cached)["requests"] == 510


def test_a_deleted_trace_is_noticed(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting a trace leaves no new row id behind; the project's trace count shows it."""
    before, _, _ = both(capsys, project.name)
    rows = project.client.query_spans(
        project.name, {"trace": "context.trace_id"}, "name == 'litellm_request'"
    )
    trace_id = rows[0].get("trace") or rows[0]["context.trace_id"]
    answer = project.client.send("DELETE", f"/v1/traces/{trace_id}")
    assert answer.status == 204, answer.body[:200]
    cached, direct, _ = both(capsys, project.name)
    assert cached == direct
    assert json.loads(cached)["requests"] == json.loads(before)["requests"] - 1


def test_ratings_and_checks_changed_in_phoenix_show_in_the_next_report(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cached outcomes are read again when Phoenix's annotation summary changes: a new rating,
    a changed one, a check."""
    both(capsys, project.name)
    sessions = sorted(
        {g["key"] for g in json.loads(both(capsys, project.name, "--group-by", "session")[0])["groups"]}
    )
    first, second = sessions[0], sessions[1]
    seen = []
    for annotation in (
        SessionAnnotation(first, RATING, HUMAN, score=8.0),
        SessionAnnotation(first, RATING, HUMAN, score=3.0),  # the same rating, changed
        SessionAnnotation(second, CHECK, CODE, score=0.0, label=FAILED),
    ):
        annotate_session(project.client, annotation)
        cached, direct, _ = both(capsys, project.name)
        assert cached == direct
        group = json.loads(cached)["groups"]
        seen.append((sum(g["rated_sessions"] for g in group), sum(g["checked_sessions"] for g in group)))
    assert seen == [(1, 0), (1, 0), (1, 1)]
    rated = [g for g in json.loads(cached)["groups"] if g["rated_sessions"]]
    assert [g["mean_score"] for g in rated] == [3.0]


def test_a_corrupted_cache_is_rebuilt_with_one_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    both(capsys, project.name)
    path = project.cache()
    path.write_bytes(b"\x00garbage" * 4096)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
    cached, direct, err = both(capsys, project.name)
    assert cached == direct
    lines = err.splitlines()
    assert "unreadable" in lines[0] and str(path) in lines[0] and "Traceback" not in err
    assert all(line.startswith("report cache") for line in lines)


def test_the_cache_file_is_owner_only_and_holds_no_prompt_or_key(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    both(capsys, project.name)
    path = project.cache()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = path.read_bytes()
    wal = path.with_name(path.name + ".wal")
    data += wal.read_bytes() if wal.exists() else b""
    assert b"code-review" in data  # session types are there to be found...
    assert PROMPT_MARKER.encode() not in data and KEY.encode() not in data  # ...prompts and keys are not
    memo = path.with_name(path.name + ".memo")  # recent results (report/cache/memo.py)
    assert stat.S_IMODE(memo.stat().st_mode) == 0o700
    kept = list(memo.iterdir())
    assert kept and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)
    for p in kept:
        assert PROMPT_MARKER.encode() not in p.read_bytes() and KEY.encode() not in p.read_bytes()


def test_a_project_deleted_and_recreated_is_detected(
    live_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    again = Project(f"report-cache-re-{tag}", live_stack)
    again.send(specs(120, 3, seed=21, tag=tag, days=5, end_ns=time.time_ns()))
    both(capsys, again.name)
    answer = again.client.send("DELETE", f"/v1/projects/{again.name}")
    assert answer.status == 204
    again.send(specs(90, 2, seed=22, tag=tag + "b", days=5, end_ns=time.time_ns()))
    cached, direct, err = both(capsys, again.name)
    assert cached == direct and json.loads(cached)["requests"] == 90
    assert f"project {again.name!r} was deleted and recreated" in err.splitlines()[0]


def test_retention_is_set_in_phoenix_and_shown_by_status(
    live_stack: Stack, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ten years, then nine, on this module's project."""
    for days in ("3650", "3285"):
        code = cli.main(["retention", "--days", days, "--project", project.name])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"deletes traces older than {days} days" in out
    # Read back from Phoenix itself: the project points at one policy of its own, edited in place.
    client = live_stack.phoenix
    project_id = client.project_id(project.name)
    policies = client.graphql(
        "query { projectTraceRetentionPolicies(first: 100) { edges { node { name "
        "rule { ... on TraceRetentionRuleMaxDays { maxDays } } projects { edges { node { id } } } } } } }"
    )["projectTraceRetentionPolicies"]["edges"]
    ours = [p["node"] for p in policies if p["node"]["name"] == f"claude-session: {project.name}"]
    assert len(ours) == 1 and ours[0]["rule"]["maxDays"] == 3285
    assert [e["node"]["id"] for e in ours[0]["projects"]["edges"]] == [project_id]
    code = cli.main(["status"])
    out, _ = capsys.readouterr()
    assert code == 0
    # status describes the stack's own project (its policy, or that it has no spans yet).
    assert f"Phoenix retention: project {live_stack.project!r} " in out
    assert f"report cache: {live_stack.state.report_cache}" in out


def test_a_window_wider_than_the_data_pages_like_the_data(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cache's first fill asks for its whole horizon; a --since reaching back far enough is
    the same question. The pages follow the project's spans, not the empty years before them."""

    def pages(*argv: str) -> tuple[int, int]:
        code = cli.main(["report", "--project", project.name, "--format", "json", "--no-cache", *argv])
        out, err = capsys.readouterr()
        assert code == 0, err
        timing = json.loads(out)["timing"]
        return int(timing["pages"]), int(timing["spans"])

    assert pages("--page-size", "100", "--since", "400d") == pages("--page-size", "100")
