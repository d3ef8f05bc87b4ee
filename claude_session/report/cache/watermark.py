"""What Phoenix stored since the cache's last sync, found by row id instead of by counting.

Phoenix numbers the spans it stores (its `spans.id`, one writer, so in the order they were
stored), and its GraphQL `Project.spans` connection pages through them in that order: a cursor
is the row id in base64, `after: <cursor>` means "stored after that span". So the spans stored
since the last sync are the ones after the highest row id it saw (the watermark), whenever they
started: a spool replaying days-old spans after an outage lands after it too. Listing cursors
alone costs Phoenix no per-span work (~25 ms for 1,000); a connection sorted by start time
answers cursors that also carry each span's start.

Deletions (the retention policy, a trace deleted in the UI) leave no row id behind; the
project's trace count shows them (see sync.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.cursors import cursor, fresh_range, rowid_of, start_of
from claude_session.phoenix.filters import span_condition

PAGE = 1000  # the most Phoenix's connection returns at once
PROBES = 40  # row ids probed per GraphQL request (Phoenix allows at most 50 aliases)
AROUND = 127  # the farthest first probe below a guess
MAX_ROWID = 2**31 - 1  # Phoenix's PostgreSQL row ids are 32-bit: a larger cursor is an error


@dataclass(frozen=True)
class Probe:
    """Phoenix's side of a sync, asked in one request."""

    trace_count: int  # the project's traces, all kinds
    first_new: list[int]  # row ids of the first PAGE LLM spans stored after the watermark
    more_new: bool  # more than PAGE of them
    stored_before: bool  # some of them started before the probe's `since`
    earliest_since: datetime | None  # the earliest start among those that started at or after it


_PROBE = """
query($id: ID!, $after: String, $all: String, $old: String, $recent: String, $fresh: TimeRange) {
  node(id: $id) { ... on Project {
    traceCount(timeRange: $fresh)
    new: spans(first: %(page)d, after: $after, filterCondition: $all) {
      pageInfo { hasNextPage } edges { cursor } }
    old: spans(first: 1, after: $after, filterCondition: $old) { edges { cursor } }
    recent: spans(first: 1, after: $after, filterCondition: $recent,
                  sort: {col: startTime, dir: asc}) { edges { cursor } }
  } }
}""" % {"page": PAGE}  # noqa: UP031 (GraphQL braces)


def probe(client: PhoenixClient, project_id: str, watermark: int, since: datetime) -> Probe:
    """The trace count, and the LLM spans stored after `watermark`: the first page of their row ids,
    whether any started before `since` (naive UTC), and the earliest start of the others."""
    aware = since.replace(tzinfo=UTC)
    variables = {
        "id": project_id,
        "after": cursor(watermark),
        "all": span_condition({}),
        "old": span_condition({}, None, aware),
        "recent": span_condition({}, aware, None),
        "fresh": fresh_range(),
    }
    node = client.graphql(_PROBE, variables)["node"]
    recent = node["recent"]["edges"]
    return Probe(
        trace_count=int(node["traceCount"] or 0),
        first_new=[rowid_of(edge["cursor"]) for edge in node["new"]["edges"]],
        more_new=bool(node["new"]["pageInfo"]["hasNextPage"]),
        stored_before=bool(node["old"]["edges"]),
        earliest_since=start_of(recent[0]["cursor"]) if recent else None,
    )


def earliest_after(client: PhoenixClient, project_id: str, watermark: int) -> datetime | None:
    """The earliest start (naive UTC) among the LLM spans stored after `watermark`."""
    query = """query($id: ID!, $after: String, $all: String) { node(id: $id) { ... on Project {
      spans(first: 1, after: $after, filterCondition: $all, sort: {col: startTime, dir: asc}) {
        edges { cursor } } } } }"""
    variables = {"id": project_id, "after": cursor(watermark), "all": span_condition({})}
    edges = client.graphql(query, variables)["node"]["spans"]["edges"]
    return start_of(edges[0]["cursor"]) if edges else None


def highest_rowid(client: PhoenixClient, project_id: str, known: int, guess: int | None = None) -> int:
    """The highest row id among the project's LLM spans, `known` being one of them.

    Probe PROBES row ids at once, each answered with the first LLM span stored after it: the
    highest answer is a new lower bound, the first probe with no answer an upper one. A few
    requests close the gap even when the spans are spread widely. A `guess` (from the trace
    count: sync.py) centres the first probes on it: one request when it is right or nearly, and
    few probes far past the project's last span, where each costs Phoenix a scan of every span
    stored after it (other projects')."""
    low, high = known, None  # some LLM span has `low`; none is after `high`
    first = [known] if guess is None else _around(known, guess)
    answers = _first_after(client, project_id, first)  # usually, without a guess: nothing after it
    while True:
        if answers[0] is None:  # nothing stored after `low`
            return low
        low = max(a for a in answers if a is not None)
        empty = [p for p, a in zip(first, answers, strict=True) if a is None]
        if empty:
            high = min(empty) if high is None else min(high, *empty)
        if high == low:  # an LLM span with nothing stored after it
            return low
        if high is None:
            points = sorted({min(low + 2**k - 1, MAX_ROWID) for k in range(PROBES)})  # low first
        else:
            step = max(1, -(-(high - low) // (PROBES - 1)))  # at most PROBES points
            points = sorted({low, *range(low, high, step)})
        first, answers = points, _first_after(client, project_id, points)


def _around(known: int, guess: int) -> list[int]:
    """`known` first, then `guess` and row ids at growing distances below it, and two above it: a
    probe past the project's last span costs Phoenix a scan of every span stored after it (other
    projects'), one below it finds an answer at once."""
    below = {guess - (2**k - 1) for k in range(AROUND.bit_length() + 1)}
    points = {min(max(point, known), MAX_ROWID) for point in below | {guess + 8, guess + AROUND + 1}}
    return [known, *sorted(points - {known})]


def _first_after(client: PhoenixClient, project_id: str, points: list[int]) -> list[int | None]:
    """For each row id, the first LLM span's row id stored after it (None: nothing after it)."""
    fields = " ".join(
        f'p{i}: spans(first: 1, after: "{cursor(point)}", filterCondition: $all) {{ edges {{ cursor }} }}'
        for i, point in enumerate(points)
    )
    query = f"query($id: ID!, $all: String) {{ node(id: $id) {{ ... on Project {{ {fields} }} }} }}"
    node: dict[str, Any] = client.graphql(query, {"id": project_id, "all": span_condition({})})["node"]
    answers: list[int | None] = []
    for i in range(len(points)):
        edges = node[f"p{i}"]["edges"]
        answers.append(rowid_of(edges[0]["cursor"]) if edges else None)
    return answers
