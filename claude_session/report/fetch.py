"""Fetch the report's spans from Phoenix (selected columns, in pages) and aggregate them in one pass."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from openinference.semconv.trace import SpanAttributes

from claude_session.core import gateway_hints
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.cursors import fresh_range, start_of
from claude_session.phoenix.filters import SESSION_KEYS, root_condition, span_condition
from claude_session.report import attribution
from claude_session.report.errors import ReportError
from claude_session.report.model import GroupStats
from claude_session.report.samples import SessionCollector
from claude_session.report.timewindow import iso, parse_iso

if TYPE_CHECKING:
    import pyarrow as pa

# The rows the report reads, one per span: output column -> span field or attribute path, with
# `session`, `tokens` (llm.token_count) and `claude_code` (the gateway hints) as objects holding
# the keys below. This is the shape of every row in report/ and report/cache/.
COLUMNS: Mapping[str, str] = {
    "session": "session",
    "tokens": "llm.token_count",  # prompt (includes cache reads and writes), completion, prompt_details
    "cost": SpanAttributes.LLM_COST_TOTAL,
    "model": SpanAttributes.LLM_MODEL_NAME,
    "ttft": "claude_session.ttft_ms",  # streamed requests only (patch 0009)
    "start": "start_time",
    "end": "end_time",
    "latency": "latency_ms",
    "status": "status_code",
    "claude_code": "claude_code",  # gateway hints: request_class, agent_type, prompt_id, ...
    "trace_id": "context.trace_id",
}
# Each row also carries its span id under this name: Phoenix's span query answers with the span
# id as the table's index (the report cache's key, report/cache).
SPAN_ID = "context.span_id"
TRACE_ID = "context.trace_id"  # and the trace id under its key, whatever its column is called

# What the span query asks Phoenix for: each attribute the report reads as a leaf, not its whole
# object (Phoenix decodes and re-encodes each object it sends: a third more work per span), rebuilt
# into COLUMNS' objects here. Wire column -> (object in the row, key path in it).
_LEAVES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "session_id": ("session", ("id",)),
    "session_type": ("session", ("type",)),
    "session_prompt_version": ("session", ("prompt_version",)),
    "session_name": ("session", ("name",)),
    "session_user": ("session", ("user",)),
    "tokens_prompt": ("tokens", ("prompt",)),
    "tokens_completion": ("tokens", ("completion",)),
    "tokens_cache_read": ("tokens", ("prompt_details", "cache_read")),
    "tokens_cache_write": ("tokens", ("prompt_details", "cache_write")),
    "hint_request_class": ("claude_code", (gateway_hints.REQUEST_CLASS.attribute.partition(".")[2],)),
    "hint_agent_type": ("claude_code", (gateway_hints.AGENT_TYPE.attribute.partition(".")[2],)),
    "hint_prompt_id": ("claude_code", (gateway_hints.PROMPT_ID.attribute.partition(".")[2],)),
}
_PLAIN = ("cost", "model", "ttft", "start", "end", "latency", "status", "trace_id")
WIRE: Mapping[str, str] = {
    **{name: ".".join((COLUMNS[obj], *keys)) for name, (obj, keys) in _LEAVES.items()},
    **{name: COLUMNS[name] for name in _PLAIN},
}
_TEXT = (*(n for n, (obj, _) in _LEAVES.items() if obj != "tokens"), "model", "status", TRACE_ID, SPAN_ID)
_NUMBERS = (*(n for n, (obj, _) in _LEAVES.items() if obj == "tokens"), "cost", "ttft", "latency")
_TIMES = ("start", "end")


def as_row(wire: Mapping[str, Any]) -> dict[str, Any]:
    """A row as Phoenix answers WIRE (leaves) in COLUMNS' shape: objects hold the leaves that have
    a value; an object with none is None, as Phoenix answers for an absent attribute."""
    row: dict[str, Any] = {name: wire.get(name) for name in _PLAIN}
    row[SPAN_ID] = wire.get(SPAN_ID)
    row[TRACE_ID] = wire.get(TRACE_ID, wire.get("trace_id"))
    for obj in ("session", "tokens", "claude_code"):
        row[obj] = None
    for name, (obj, keys) in _LEAVES.items():
        value = wire.get(name)
        if value is None:
            continue
        target = row[obj] = row[obj] or {}
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return row


def _arrow_fits(table: pa.Table) -> pa.Table | None:
    """The Arrow answer with pandas' NaN as none, or None when a column's type is not what the JSON
    answer would carry (text as text, numbers as numbers, times as times): numeric session ids, say,
    which the JSON answer keeps as numbers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_null(kind):
            pass
        elif name in _TEXT:
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                return None
        elif name in _NUMBERS:
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                return None
            if pa.types.is_floating(kind):  # pandas' NaN for a missing value: none, as in JSON
                none = pa.nulls(1, kind)[0]  # not pa.scalar(None): that imports pandas (0.1 s)
                column = pc.if_else(pc.is_nan(column), none, column)
        elif name in _TIMES:
            if not pa.types.is_timestamp(kind):
                return None
            column = column.cast(pa.timestamp("us", tz="UTC"))  # Phoenix's database keeps microseconds
        columns[name] = column
    return pa.table(columns)


def _arrow_rows(table: pa.Table) -> list[dict[str, Any]]:
    """A fitted Arrow answer's rows as the JSON answer's: WIRE's leaves, times in its form
    ('2026-12-02T16:28:19.252863000Z')."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in _TIMES:
        if name in table.column_names and pa.types.is_timestamp(table.column(name).type):
            text = pc.binary_join_element_wise(
                pc.strftime(table.column(name), format="%Y-%m-%dT%H:%M:%S"), "000Z", ""
            )
            table = table.set_column(table.column_names.index(name), name, text)
    return list(table.to_pylist())


def _query(
    client: PhoenixClient, project: str, condition: str, low: datetime, high: datetime, limit: int
) -> pa.Table | list[dict[str, Any]]:
    """One time window: the Arrow answer (fitted), or the JSON one's rows (WIRE) where Arrow fails."""
    table = client.query_spans_arrow(project, WIRE, condition, iso(low), iso(high), limit=limit)
    fitted = _arrow_fits(table) if table is not None else None
    if fitted is not None:
        return fitted
    return client.query_spans(project, WIRE, condition, iso(low), iso(high), limit=limit)


def rows_of(page: pa.Table | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A fetched page's rows in COLUMNS' shape."""
    return page if isinstance(page, list) else [as_row(row) for row in _arrow_rows(page)]


GROUP_BY: Mapping[str, str] = {
    "prompt_version": "prompt version",
    "type": "type",
    "name": "name",
    "user": "user",
    "session": "session",
    "request_class": "request class",
    "agent_type": "agent type",
    "model": "model",
}
# Spans a page (Phoenix answers up to twice that before a window is halved). 10,000 like the
# cache's pages: --no-cache over a million spans peaked at 526 MB with 25,000, 395 MB with
# 10,000, for 6% more time.
DEFAULT_PAGE = 10_000


@dataclass(frozen=True)
class Selection:
    """Which spans a report covers: session fields that must match, and a time window."""

    values: Mapping[str, str] = field(default_factory=dict)  # session, type, prompt_version, name, user
    start: datetime | None = None
    end: datetime | None = None

    def span_filter(self, group_by: str | None = None, key: str | None = None) -> str:
        values: dict[str, str | None] = dict(self.values)
        if group_by is not None:
            values[group_by] = key
        return span_condition(values, self.start, self.end)

    def root_filter(self, group_by: str | None = None, key: str | None = None) -> str:
        """The Traces / Sessions tab expression; empty when grouping by model, which only the LLM
        span carries (the root span has no model name: patch 0008 keeps Phoenix from counting
        each request twice)."""
        if group_by in ROOTLESS_KEYS:
            return ""
        values: dict[str, str | None] = dict(self.values)
        if group_by is not None:
            values[group_by] = key
        return root_condition(values)


# Report dimensions the request's root span does not carry.
ROOTLESS_KEYS = frozenset({"model"})


# --------------------------------------------------------------------------- fetching


def _project_info(
    client: PhoenixClient, project_id: str, condition: str
) -> tuple[int, datetime | None, datetime | None]:
    """How many spans match `condition`, and the first and last start among them, asked fresh
    (Phoenix's cached count and time bounds lag a write by ~0.1 s: phoenix/cursors.py)."""
    query = """
    query($id: ID!, $f: String, $fresh: TimeRange) { node(id: $id) { ... on Project {
      recordCount(filterCondition: $f, timeRange: $fresh)
      first: spans(first: 1, filterCondition: $f, sort: {col: startTime, dir: asc}) { edges { cursor } }
      last: spans(first: 1, filterCondition: $f, sort: {col: startTime, dir: desc}) { edges { cursor } }
    } } }"""
    node = client.graphql(query, {"id": project_id, "f": condition, "fresh": fresh_range()})["node"]
    first, last = node["first"]["edges"], node["last"]["edges"]
    if not first or not last:
        return 0, None, None
    return (
        int(node["recordCount"] or 0),
        start_of(first[0]["cursor"]).replace(tzinfo=UTC),
        start_of(last[0]["cursor"]).replace(tzinfo=UTC),
    )


def fetch_pages(
    client: PhoenixClient,
    project: str,
    project_id: str,
    selection: Selection,
    page_size: int = DEFAULT_PAGE,
) -> Iterator[list[dict[str, Any]]]:
    """The selected spans' rows (COLUMNS), in pages of about `page_size`."""
    return (rows_of(page) for page in fetch_wire(client, project, project_id, selection, page_size))


def fetch_wire(
    client: PhoenixClient,
    project: str,
    project_id: str,
    selection: Selection,
    page_size: int = DEFAULT_PAGE,
) -> Iterator[pa.Table | list[dict[str, Any]]]:
    """The selected spans, in pages of about `page_size`: each page Phoenix's Arrow answer (WIRE's
    columns), or rows (COLUMNS) where it answered in JSON; `rows_of` makes rows of either.

    Phoenix's span query has no cursor, so pages are time windows: Phoenix counts the
    matching spans (one fast aggregate), the window is cut into as many equal slices as
    that needs, and a slice that comes back full (bursty traffic, or spans arriving
    meanwhile) is split in two and fetched again.
    """
    condition = selection.span_filter()
    count, first, last = _project_info(client, project_id, condition)
    if count == 0 or first is None or last is None:
        return
    # The pages cover only where the selected spans start: a window reaching further back (the
    # report cache's 400-day horizon, a long --since) would otherwise cut mostly empty slices
    # and overfill the rest, each fetched whole and then again in halves.
    start, end = first, last + timedelta(microseconds=1)
    slices = max(1, math.ceil(count / page_size))
    step = (end - start) / slices
    bounds = [start + step * i for i in range(slices)] + [end]
    for low, high in itertools.pairwise(bounds):
        yield from _fetch_window(client, project, condition, low, high, page_size)


def _fetch_window(
    client: PhoenixClient, project: str, condition: str, low: datetime, high: datetime, page_size: int
) -> Iterator[pa.Table | list[dict[str, Any]]]:
    limit = 2 * page_size
    page = _query(client, project, condition, low, high, limit)
    if len(page) < limit:
        yield page if not isinstance(page, list) else [as_row(row) for row in page]
        return
    if high - low <= timedelta(microseconds=2):
        raise ReportError(f"more than {limit} spans start within one microsecond at {iso(low)}")
    middle = low + (high - low) / 2
    yield from _fetch_window(client, project, condition, low, middle, page_size)
    yield from _fetch_window(client, project, condition, middle, high, page_size)


def phoenix_costs(client: PhoenixClient, project_id: str, conditions: Mapping[str, str]) -> dict[str, float]:
    """Phoenix's own total cost for each filter condition (one GraphQL request)."""
    if not conditions:
        return {}
    names = {f"g{i}": label for i, label in enumerate(conditions)}
    params = ", ".join(f"$f{i}: String" for i in range(len(names)))
    fields_ = " ".join(
        f"g{i}: costSummary(filterCondition: $f{i}) {{ total {{ cost }} }}" for i in range(len(names))
    )
    query = f"query($id: ID!, {params}) {{ node(id: $id) {{ ... on Project {{ {fields_} }} }} }}"
    variables: dict[str, Any] = {"id": project_id}
    variables.update({f"f{i}": condition for i, condition in enumerate(conditions.values())})
    node = client.graphql(query, variables)["node"]
    return {label: float(node[alias]["total"]["cost"] or 0.0) for alias, label in names.items()}


SESSION_BATCH = 50  # Phoenix allows at most 50 aliases in one GraphQL query


def phoenix_session_cost(client: PhoenixClient, session_ids: Iterable[str]) -> float:
    """The sum of Phoenix's own session cost (each session's costSummary, what the Sessions tab
    shows) over `session_ids`; a session Phoenix does not know counts $0."""
    ids = sorted(session_ids)
    total = 0.0
    for first in range(0, len(ids), SESSION_BATCH):
        batch = ids[first : first + SESSION_BATCH]
        params = ", ".join(f"$s{i}: String!" for i in range(len(batch)))
        fields_ = " ".join(
            f"s{i}: getProjectSessionById(sessionId: $s{i}) {{ costSummary {{ total {{ cost }} }} }}"
            for i in range(len(batch))
        )
        data = client.graphql(f"query({params}) {{ {fields_} }}", {f"s{i}": s for i, s in enumerate(batch)})
        for node in data.values():
            if node is not None:
                total += float(node["costSummary"]["total"]["cost"] or 0.0)
    return total


# --------------------------------------------------------------------------- aggregating


class _Accumulator:
    """Running sums for one group; latencies are kept for the quantiles."""

    __slots__ = (
        "cache_read",
        "cache_write",
        "completion",
        "cost",
        "end",
        "errors",
        "fields",
        "first",
        "latencies",
        "models",
        "prompt",
        "requests",
        "sessions",
        "start",
        "tally",
        "ttfts",
    )

    def __init__(self) -> None:
        self.sessions: set[str | None] = set()
        self.requests = 0
        self.errors = 0
        self.prompt = self.completion = self.cache_read = self.cache_write = 0
        self.cost = 0.0
        self.latencies: list[float] = []
        self.ttfts: list[float] = []
        self.models: set[str] = set()
        self.start: str | None = None
        self.end: str | None = None
        self.fields: tuple[str | None, str | None, str | None] | None = None
        self.first: tuple[str, str] | None = None  # (start, span id) of the row `fields` came from
        self.tally = attribution.Tally()

    def add(self, row: Mapping[str, Any], session: Mapping[str, Any]) -> None:
        self.sessions.add(session.get("id"))
        self.requests += 1
        if row["status"] == "ERROR":
            self.errors += 1
        tokens = row["tokens"]
        if tokens:
            self.prompt += int(tokens.get("prompt") or 0)
            self.completion += int(tokens.get("completion") or 0)
            details = tokens.get("prompt_details") or {}
            self.cache_read += int(details.get("cache_read") or 0)
            self.cache_write += int(details.get("cache_write") or 0)
        cost = float(row["cost"] or 0.0)
        self.cost += cost
        self.tally.add(row, session.get("id"), cost)
        if row["latency"] is not None:
            self.latencies.append(float(row["latency"]))
        if row["ttft"] is not None:
            self.ttfts.append(float(row["ttft"]))
        if row["model"]:
            self.models.add(row["model"])
        # Phoenix's timestamps share one format, so strings compare like times.
        if row["start"] and (self.start is None or row["start"] < self.start):
            self.start = row["start"]
        if row["end"] and (self.end is None or row["end"] > self.end):
            self.end = row["end"]
        # A session's fields from its earliest span (ties: the smallest span id), whatever order
        # Phoenix sends the rows in: the report cache picks the same row.
        first = (str(row.get("start") or ""), str(row.get(SPAN_ID) or ""))
        if self.first is None or first < self.first:
            self.first = first
            self.fields = (session.get("type"), session.get("prompt_version"), session.get("name"))


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Aggregation:
    groups: list[GroupStats]
    spans: int
    pages: int
    fetch_s: float
    aggregate_s: float
    session_ids: set[str] = field(default_factory=set)  # every session seen, for Phoenix's session totals
    fetched: int | None = None  # spans read from Phoenix for this report (None: all of `spans`)


def aggregate(
    pages: Iterable[list[dict[str, Any]]],
    selection: Selection,
    group_by: str,
    sessions: SessionCollector | None = None,
) -> Aggregation:
    """One pass over every row of every page; the time spent waiting for pages counts as fetching.
    `sessions`, when given, also collects each group's per-session figures (for the intervals)."""
    accumulators: dict[str | None, _Accumulator] = {}
    attribute = SESSION_KEYS.get(group_by, "")
    spans = pages_seen = 0
    fetch_s = aggregate_s = 0.0
    iterator = iter(pages)
    while True:
        began = time.perf_counter()
        page = next(iterator, None)
        fetched = time.perf_counter()
        fetch_s += fetched - began
        if page is None:
            break
        pages_seen += 1
        spans += len(page)
        for row in page:
            session = row["session"] if isinstance(row["session"], dict) else {}
            value = attribution.group_value(row, session, attribute, group_by)
            key = None if value is None else str(value)
            accumulator = accumulators.get(key)
            if accumulator is None:
                accumulator = accumulators[key] = _Accumulator()
            accumulator.add(row, session)
            if sessions is not None:
                sessions.add(key, row, session)
        aggregate_s += time.perf_counter() - fetched
    began = time.perf_counter()
    groups = [_finish(key, acc, selection, group_by) for key, acc in accumulators.items()]
    groups.sort(key=group_order(group_by), reverse=group_by == "session")
    aggregate_s += time.perf_counter() - began
    session_ids = {str(s) for acc in accumulators.values() for s in acc.sessions if s is not None}
    return Aggregation(groups, spans, pages_seen, fetch_s, aggregate_s, session_ids)


def group_order(group_by: str) -> Any:
    if group_by == "session":  # sorted most recent first
        return lambda g: (g.start or "", g.label)
    return lambda g: (g.key is None, g.label)


def _finish(key: str | None, acc: _Accumulator, selection: Selection, group_by: str) -> GroupStats:
    session_type = prompt_version = session_name = None
    if group_by == "session" and acc.fields is not None:
        session_type, prompt_version, session_name = acc.fields
    return GroupStats(
        key=key,
        sessions=len(acc.sessions),
        requests=acc.requests,
        errors=acc.errors,
        input_tokens=acc.prompt - acc.cache_read - acc.cache_write,
        output_tokens=acc.completion,
        cache_read_tokens=acc.cache_read,
        cache_write_tokens=acc.cache_write,
        cost_usd=acc.tally.total(),  # correctly rounded, as is each bucket of the breakdown
        latency_p50_ms=quantile(acc.latencies, 0.5),
        latency_p95_ms=quantile(acc.latencies, 0.95),
        ttft_p50_ms=quantile(acc.ttfts, 0.5),
        start=iso(parse_iso(acc.start)) if acc.start else None,
        end=iso(parse_iso(acc.end)) if acc.end else None,
        span_filter=selection.span_filter(group_by, key),
        root_filter=selection.root_filter(group_by, key),
        models=sorted(acc.models),
        session_type=session_type,
        prompt_version=prompt_version,
        session_name=session_name,
        **acc.tally.stats(),
    )
