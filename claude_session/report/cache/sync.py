"""Keeping the cache in step with Phoenix, fetching as little as it can.

Each report:
1. checks the cache mirrors this Phoenix and project: the same Phoenix version, the same
   project (its id and creation time: a project deleted and recreated has a new one) in the
   same database (the oldest project's creation time: a wiped Phoenix recreates it). Anything
   else empties the cache, with one line saying why.
2. drops the spans older than the cache's horizon (MAX_AGE: the size bound); a report reaching
   further back fetches that part from Phoenix (cached.py).
3. asks Phoenix, in one request, for its trace count and the LLM spans it stored since the last
   sync (watermark.py: by row id, whenever they started). Nothing stored and the same trace
   count: done, nothing is fetched. Spans stored: the time window from the earliest of them is
   fetched and replaces that window whole (upsert by span id; a span Phoenix no longer has
   goes), when the cache holds at most WINDOW_SPANS spans there; and if the trace count grew by
   as many as the window did, nothing was deleted elsewhere and the sync is done.
4. otherwise (spans that started long ago into a large project, such as a spool replay; a trace
   count showing deletions: the retention policy, a trace deleted in the UI; a cache filled
   before watermarks; the last count over RECOUNT old) it compares, for the part older than the
   last OVERLAP, Phoenix's span count with the cache's (one aggregate query), narrows a
   difference down by time slices and refetches those slices, and refetches the recent window
   whole.

Why OVERLAP: a span reaches Phoenix after it ends: the proxy's batch processor exports within
seconds and retries for about a minute, and a span starts up to a request's duration earlier
(LiteLLM's timeout is 10 minutes); the new spans of a sync usually start after the newest
cached one minus OVERLAP (15 minutes). The proxy's spool (proxy/spool.py) is different: after a
Phoenix outage it replays failed batches oldest first, with no age limit (a stopped proxy
replays when it starts again, days later); the watermark sees those spans arrive, and step 3's
window or step 4's counts find where they landed.

The trace count check assumes what the proxy writes: each trace (request) holds one LLM span.
A project whose traces hold other spans only, or several LLM spans, takes step 4 whenever
something was stored: slower, never wrong. So does a span stored between the probe and the
window's fetch. What it cannot see is deletions outside the window exactly offset by spans
stored meanwhile: so step 4 also runs when the last count is over RECOUNT old.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.cursors import fresh_range
from claude_session.phoenix.filters import span_condition
from claude_session.report.cache import watermark
from claude_session.report.cache.columns import cache_table
from claude_session.report.cache.store import SpanStore
from claude_session.report.fetch import Selection, fetch_wire
from claude_session.report.timewindow import iso, parse_iso

OVERLAP = timedelta(minutes=15)
WINDOW_SPANS = 100_000  # new spans are fetched as the window from the earliest if it holds no more
RECOUNT = timedelta(hours=1)  # step 4 runs at least this often, whatever the watermark says
MAX_AGE = timedelta(days=400)  # spans older than this leave the cache (Phoenix still has them)
SLICES = 16  # time slices a count difference is narrowed down by, per round
REFETCH_SPANS = 50_000  # a slice with at most this many spans (in Phoenix) is refetched whole
PAGE = 10_000  # spans a page (Phoenix answers up to twice that before a window is halved): a cold
# fill's peak memory is a few pages, whatever the project's size
PREFETCH = 1  # pages fetched ahead of the one being stored
JOIN_S = 5.0
PROGRESS_STEP = 0.25  # a cold fetch says how far it got every quarter

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Identity:
    """What a cache file mirrors."""

    phoenix_version: str
    database_created: str  # the creation time of Phoenix's oldest project (its 'default')
    project_id: str
    project_created: str

    def as_meta(self) -> dict[str, str]:
        return {
            "phoenix_version": self.phoenix_version,
            "database_created": self.database_created,
            "project_id": self.project_id,
            "project_created": self.project_created,
        }


def identity(client: PhoenixClient, project: str) -> Identity | None:
    """This Phoenix's and project's identity; None when Phoenix has no such project."""
    data = client.graphql("query { projects(first: 1000) { edges { node { id name createdAt } } } }")
    nodes = [edge["node"] for edge in data["projects"]["edges"]]
    mine = [n for n in nodes if n["name"] == project]
    if not mine:
        return None
    oldest = min(nodes, key=lambda n: str(n["createdAt"]))
    answer = client.send("GET", "/arize_phoenix_version")
    version = answer.body.decode(errors="replace").strip() if answer.status == 200 else "unknown"
    return Identity(version, str(oldest["createdAt"]), str(mine[0]["id"]), str(mine[0]["createdAt"]))


def stale_reason(meta: dict[str, str], now: Identity, project: str) -> str | None:
    """Why a cache with `meta` does not mirror `now` (None: it does, or it is empty)."""
    if "project_id" not in meta:
        return None
    if meta.get("database_created") != now.database_created:
        return "Phoenix's database was wiped or replaced since the cache was filled"
    if meta.get("phoenix_version") != now.phoenix_version:
        before = meta.get("phoenix_version")
        return f"Phoenix is now version {now.phoenix_version}, the cache was filled from {before}"
    if (meta.get("project_id"), meta.get("project_created")) != (now.project_id, now.project_created):
        return f"project {project!r} was deleted and recreated in Phoenix since the cache was filled"
    return None


@dataclass
class Synced:
    floor: datetime  # the cache holds every span that started at or after this (naive UTC)
    fetched: int = 0
    pages: int = 0
    fetch_s: float = 0.0


class _Pages:
    """Fetched pages as Arrow tables, counted and timed (the time spent waiting on Phoenix).

    A thread fetches the next page while this one converts and stores the last: Phoenix's work
    on a page (most of a cold fill) then overlaps the cache's, instead of alternating with it."""

    def __init__(
        self,
        synced: Synced,
        pages: Iterator[pa.Table | list[dict[str, Any]]],
        progress: Callable[[int], None],
    ) -> None:
        self.synced = synced
        self.pages = pages
        self.progress = progress

    def __iter__(self) -> Iterator[pa.Table]:
        ahead: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=PREFETCH)
        stop = threading.Event()

        def offer(item: tuple[str, Any]) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False  # the reader stopped

        def fetch() -> None:
            try:
                for page in self.pages:
                    if not offer(("page", page)):
                        return
                offer(("end", None))
            except BaseException as err:
                offer(("error", err))  # raised again in the reading thread

        fetcher = threading.Thread(target=fetch, name="report-cache-fetch", daemon=True)
        fetcher.start()
        try:
            while True:
                began = time.perf_counter()
                kind, item = ahead.get()
                self.synced.fetch_s += time.perf_counter() - began
                if kind == "error":
                    raise item
                if kind == "end":
                    return
                self.synced.pages += 1
                self.synced.fetched += len(item)
                self.progress(self.synced.fetched)
                yield cache_table(item)
        finally:
            stop.set()
            fetcher.join(timeout=JOIN_S)  # a request in flight ends with the process at worst (daemon)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def sync(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    now_identity: Identity,
    notify: Notify,
    now: datetime | None = None,
    max_age: timedelta = MAX_AGE,
) -> Synced:
    """Bring the cache up to date with Phoenix (see the module's description)."""
    reason = stale_reason(store.meta(), now_identity, project)
    if reason:
        notify(f"report cache: {reason}: rebuilding it from Phoenix")
        store.clear()
    floor = ((now or datetime.now(UTC)) - max_age).astimezone(UTC).replace(tzinfo=None)
    store.delete_before(floor)
    synced = Synced(floor)
    newest = store.newest_start()
    project_id = now_identity.project_id
    meta = store.meta()
    moment = now or datetime.now(UTC)
    counted = meta.get("counted")
    due = counted is None or moment - parse_iso(counted) > RECOUNT
    if newest is not None and "watermark" in meta:
        before = Mark.of(meta)
        mark, recounted = _since(store, client, project, project_id, floor, before, newest, synced, due)
    else:  # the first fill; a cache filled before watermarks
        mark = _mark(client, project_id, Mark(0, 0), watermark.probe(client, project_id, 0, floor))
        if newest is None:
            _fill(store, client, project, project_id, floor, synced, notify)
            store.reopen()  # peak memory: the fill's buffers or the aggregation's, not both
        else:
            _catch_up(store, client, project, project_id, floor, newest - OVERLAP, synced)
        recounted = True
    if recounted:
        counted = iso(moment)
    state = {**now_identity.as_meta(), "floor": iso(_aware(floor)), "counted": counted}
    store.set_meta({**state, **mark.as_meta()})
    store.close_generation()
    return synced


@dataclass(frozen=True)
class Mark:
    """Where a sync left Phoenix: the highest LLM span row id it had read, and the trace count."""

    watermark: int
    trace_count: int

    @classmethod
    def of(cls, meta: dict[str, str]) -> Mark:
        return cls(int(meta["watermark"]), int(meta.get("trace_count", "-1")))

    def as_meta(self) -> dict[str, str]:
        return {"watermark": str(self.watermark), "trace_count": str(self.trace_count)}


def _since(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    project_id: str,
    floor: datetime,
    before: Mark,
    newest: datetime,
    synced: Synced,
    recount: bool,
) -> tuple[Mark, bool]:
    """The spans Phoenix stored since the last sync (watermark.py), fetched as one time window when
    they all started lately; otherwise, or when the trace count says something was deleted, the
    counts of `_catch_up` find where the cache differs (True: they ran; `recount` runs them anyway)."""
    recent = max(newest - OVERLAP, floor)
    seen = watermark.probe(client, project_id, before.watermark, recent)
    new = seen.first_new
    if not new and seen.trace_count == before.trace_count and not recount:
        return Mark(before.watermark, seen.trace_count), False  # nothing stored, nothing deleted
    mark = _mark(client, project_id, before, seen)  # before the window's fetch (see _mark)
    windowed = not recount and _window(store, client, project, project_id, before, seen, synced)
    if not windowed:
        _catch_up(store, client, project, project_id, floor, recent, synced)
    return mark, not windowed


def _mark(client: PhoenixClient, project_id: str, before: Mark, seen: watermark.Probe) -> Mark:
    """Where this sync leaves Phoenix: the highest LLM span row id, found before any span is
    fetched (a span stored meanwhile is then above the watermark, read next time, never below it
    unread), and the trace count."""
    new = seen.first_new
    top = watermark.highest_rowid(client, project_id, new[-1], _guess(before, seen)) if seen.more_new else 0
    return Mark(max(before.watermark, top, *new), seen.trace_count)


def _guess(before: Mark, seen: watermark.Probe) -> int | None:
    """Where the highest new row id probably is: as many LLM spans as new traces, spaced like the
    first page's (one a trace through the proxy, with its sibling spans between them)."""
    new = seen.first_new
    rest = seen.trace_count - before.trace_count - len(new)
    if rest <= 0 or len(new) < 2:
        return None
    return new[-1] + round(rest * (new[-1] - new[0]) / (len(new) - 1))


def _window(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    project_id: str,
    before: Mark,
    seen: watermark.Probe,
    synced: Synced,
) -> bool:
    """Refetch the window from the earliest new span whole when the cache holds at most
    WINDOW_SPANS there; True when that accounts for every change (the trace count agrees)."""
    if not seen.first_new:
        return False
    earliest = seen.earliest_since
    if seen.stored_before:  # some started earlier: sessions that ran long, or a spool replay
        earliest = watermark.earliest_after(client, project_id, before.watermark)
    if earliest is None:
        return False
    held = store.count(earliest, None)
    if held > WINDOW_SPANS:
        return False
    pages = fetch_wire(client, project, project_id, Selection(start=_aware(earliest)), PAGE)
    written = store.replace_range(earliest, None, _Pages(synced, pages, lambda n: None))
    # One LLM span per trace (a proxy request): as many new traces as new spans in the window
    # means nothing was deleted elsewhere.
    return seen.trace_count - before.trace_count == written - held


def _catch_up(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    project_id: str,
    floor: datetime,
    recent: datetime,
    synced: Synced,
) -> None:
    """Counts and refetches: the window since `recent` whole, the older part where counts differ."""
    cutoff = max(recent, floor)
    _reconcile(store, client, project, project_id, floor, cutoff, synced)
    pages = fetch_wire(client, project, project_id, Selection(start=_aware(cutoff)), PAGE)
    store.replace_range(cutoff, None, _Pages(synced, pages, lambda n: None))


def _fill(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    project_id: str,
    floor: datetime,
    synced: Synced,
    notify: Notify,
) -> None:
    """The first fill: every span since the floor, saying how far it got."""
    total = phoenix_count(client, project_id, [(_aware(floor), None)])[0]
    if total == 0:
        return
    notify(
        f"report cache: reading {total:,} spans from Phoenix into {store.path} "
        "(once; later reports read only new spans)"
    )
    marks = iter(int(total * PROGRESS_STEP * i) for i in range(1, int(1 / PROGRESS_STEP)))
    mark = next(marks, None)

    def progress(done: int) -> None:
        nonlocal mark
        said = False
        while mark is not None and done >= mark:
            if done < total and not said:  # a fill done in one page has nothing more to say
                notify(f"report cache: {done:,} of about {total:,} spans read")
                said = True
            mark = next(marks, None)

    pages = fetch_wire(client, project, project_id, Selection(start=_aware(floor)), PAGE)
    store.fill(_Pages(synced, pages, progress))


ALIASES = 40  # windows counted per GraphQL request (Phoenix allows at most 50 aliases)


def phoenix_count(
    client: PhoenixClient, project_id: str, windows: list[tuple[datetime, datetime | None]]
) -> list[int]:
    """Phoenix's count of LLM spans in each [start, end) window (one GraphQL request per ALIASES)."""
    if len(windows) > ALIASES:
        return [
            n
            for i in range(0, len(windows), ALIASES)
            for n in phoenix_count(client, project_id, windows[i : i + ALIASES])
        ]
    counts = (f"w{i}: recordCount(filterCondition: $f{i}, timeRange: $fresh)" for i in range(len(windows)))
    fields_ = " ".join(counts)  # a fresh time range: Phoenix's cached counts lag a write (cursors.py)
    params = ", ".join(["$id: ID!", "$fresh: TimeRange", *(f"$f{i}: String" for i in range(len(windows)))])
    query = f"query({params}) {{ node(id: $id) {{ ... on Project {{ {fields_} }} }} }}"
    variables: dict[str, Any] = {"id": project_id, "fresh": fresh_range()}
    for i, (low, high) in enumerate(windows):
        variables[f"f{i}"] = span_condition({}, low, high)
    node = client.graphql(query, variables)["node"]
    return [int(node[f"w{i}"] or 0) for i in range(len(windows))]


def _reconcile(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    project_id: str,
    low: datetime,
    high: datetime,
    synced: Synced,
) -> None:
    """Make the cache's [low, high) hold what Phoenix holds there, refetching only the time slices
    whose counts differ."""
    pending = [(low, high)]
    while pending:
        windows = [(_aware(a), _aware(b)) for a, b in pending]
        theirs = phoenix_count(client, project_id, windows)  # type: ignore[arg-type]
        pending_next: list[tuple[datetime, datetime]] = []
        for (a, b), count in zip(pending, theirs, strict=True):
            if count == store.count(a, b):
                continue
            if count <= REFETCH_SPANS or b - a <= timedelta(seconds=1):
                selection = Selection(start=_aware(a), end=_aware(b))
                pages = fetch_wire(client, project, project_id, selection, PAGE)
                store.replace_range(a, b, _Pages(synced, pages, lambda n: None))
                continue
            step = (b - a) / SLICES
            bounds = [a + step * i for i in range(SLICES)] + [b]
            pending_next.extend(itertools.pairwise(bounds))
        pending = pending_next


def floor_of(meta: dict[str, str]) -> datetime | None:
    found = meta.get("floor")
    return parse_iso(found).replace(tzinfo=None) if found else None
