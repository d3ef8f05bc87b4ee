"""Ratings and checks (Phoenix's session annotations) cached beside the spans.

Phoenix 20.26 lists session annotations only by session id (1,000 a request) and has no
"changed since" filter, so the cache keeps, per session it has read, the outcome it found, and
a fingerprint of every rating and check in the project: Phoenix's own annotation summary per
name (count, score count, mean score, label count and fractions; one small GraphQL request).
An annotation added, deleted, or changed in score or label changes it, and the cache then reads
every session again. A report reads only the sessions it has not read before (new sessions).

What the fingerprint cannot see: changes that keep every summary figure, such as two sessions'
ratings swapped at once. So the cache also forgets what it read after MAX_AGE.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from claude_session.phoenix.annotations import CHECK, RATING, Outcome, fetch_outcomes
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.cursors import fresh_range
from claude_session.report.cache.store import SpanStore
from claude_session.report.timewindow import iso, parse_iso

MAX_AGE = timedelta(minutes=10)
_SUMMARY = "count scoreCount labelCount meanScore labelFractions { label fraction }"
_FINGERPRINT = (  # a fresh time range: Phoenix's cached summary lags a write by ~0.1 s (cursors.py)
    "query($id: ID!, $fresh: TimeRange) { node(id: $id) { ... on Project { "
    f'rating: sessionAnnotationSummary(annotationName: "{RATING}", timeRange: $fresh) {{ {_SUMMARY} }} '
    f'check: sessionAnnotationSummary(annotationName: "{CHECK}", timeRange: $fresh) {{ {_SUMMARY} }} '
    "} } }"
)


def fingerprint(client: PhoenixClient, project_id: str) -> str:
    """Phoenix's summary of the project's ratings and checks, as one comparable string."""
    node = client.graphql(_FINGERPRINT, {"id": project_id, "fresh": fresh_range()})["node"]
    return json.dumps(node, sort_keys=True)


def cached_outcomes(
    store: SpanStore,
    client: PhoenixClient,
    project: str,
    project_id: str,
    session_ids: Iterable[str],
    now: datetime | None = None,
) -> dict[str, Outcome]:
    """The rating and check of each of `session_ids` that has either, reading from Phoenix only the
    sessions the cache has not read since the fingerprint last changed."""
    moment = now or datetime.now(UTC)
    current = fingerprint(client, project_id)  # before reading: a change meanwhile shows next time
    meta = store.meta()
    read_at = meta.get("outcomes_read_at")
    expired = read_at is None or moment - parse_iso(read_at) > MAX_AGE
    if meta.get("outcomes_fingerprint") != current or expired:
        store.forget_outcomes()
        store.set_meta({"outcomes_fingerprint": current, "outcomes_read_at": iso(moment)})
    wanted = sorted(set(session_ids))
    missing = store.unread_sessions(wanted)
    if missing:
        found = fetch_outcomes(client, project, missing)
        store.add_outcomes(missing, found)
    return store.outcomes(wanted)
