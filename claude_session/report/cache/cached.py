"""A report's aggregation through the cache: open (or repair) the file, sync it, aggregate in SQL.

None means "read Phoenix directly": another report holds the file, or the file failed under
this one (it is then removed, and the next report rebuilds it). Either way one line says so.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import duckdb
import pyarrow as pa

from claude_session.phoenix.annotations import Outcome
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.report.cache.aggregate import StoreAggregation, aggregate_in_store
from claude_session.report.cache.columns import cache_table
from claude_session.report.cache.errors import CacheBusy, CacheError
from claude_session.report.cache.memo import (
    aggregation_key,
    memo_for,
    recall_aggregation,
    remember_aggregation,
)
from claude_session.report.cache.outcomes import cached_outcomes
from claude_session.report.cache.store import SpanStore, cache_file, open_store
from claude_session.report.cache.sync import PAGE, Identity, Notify, Synced, sync
from claude_session.report.fetch import Selection, fetch_wire


def cached_aggregation(
    client: PhoenixClient,
    project: str,
    ident: Identity,
    selection: Selection,
    group_by: str,
    samples: bool,
    directory: Path,
    notify: Notify,
) -> StoreAggregation | None:
    path = cache_file(directory, client.base_url, project)
    notices: list[str] = []
    try:
        store = open_store(path, notices)
    except CacheBusy as err:
        notify(f"{err}: this report reads Phoenix directly")
        return None
    except CacheError as err:
        notify(f"{err}: this report reads Phoenix directly")
        return None
    for line in notices:
        notify(line)
    try:
        with store:
            synced = sync(store, client, project, ident, notify)
            source = _source(store, client, project, ident.project_id, selection, synced)
            result = _aggregation(store, source, selection, group_by, samples)
            found = _outcomes(store, client, project, ident.project_id, result) if samples else None
    except duckdb.Error as err:
        with contextlib.suppress(OSError):
            path.unlink()
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        notify(f"report cache {path} failed ({first_line}): removed; this report reads Phoenix directly")
        return None
    aggregation = replace(result.aggregation, fetch_s=synced.fetch_s, pages=synced.pages)
    aggregation = replace(aggregation, fetched=synced.fetched)
    return StoreAggregation(aggregation, result.samples, found)


def _aggregation(
    store: SpanStore, source: str, selection: Selection, group_by: str, samples: bool
) -> StoreAggregation:
    """The SQL aggregation, or the one a recent report made of the same spans (memo.py)."""
    if source != "spans":  # spans older than the cache's horizon, fetched for this report only
        return aggregate_in_store(store.db, source, selection, group_by, samples)
    memo = memo_for(store.path)
    key = aggregation_key(store.generation(), selection, group_by, samples)
    found = recall_aggregation(memo, key)
    if found is None:
        found = aggregate_in_store(store.db, source, selection, group_by, samples)
        remember_aggregation(memo, key, found)
    return found


def _outcomes(
    store: SpanStore, client: PhoenixClient, project: str, project_id: str, result: StoreAggregation
) -> dict[str, Outcome] | None:
    """The sessions' ratings and checks through the cache; None when Phoenix failed (the report
    then asks again without it, and says what failed)."""
    ids = [sid for sample in result.samples.values() for sid in sample.sessions if sid is not None]
    try:
        return cached_outcomes(store, client, project, project_id, ids)
    except PhoenixError:
        return None


def _source(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    project_id: str,
    selection: Selection,
    synced: Synced,
) -> str:
    """The relation to aggregate: the cache, plus the selection's spans older than the cache's
    horizon, fetched from Phoenix for this report only."""
    floor = synced.floor.replace(tzinfo=UTC)
    if selection.start is not None and selection.start >= floor:
        return "spans"
    end = floor if selection.end is None else min(selection.end, floor)
    older = Selection(selection.values, selection.start, end)
    tables = [cache_table(page) for page in fetch_wire(client, project, project_id, older, PAGE)]
    if not any(t.num_rows for t in tables):
        return "spans"
    synced.pages += len(tables)
    synced.fetched += sum(t.num_rows for t in tables)
    store.db.register("older", pa.concat_tables(tables))
    return "(SELECT * FROM spans UNION ALL SELECT * FROM older)"
