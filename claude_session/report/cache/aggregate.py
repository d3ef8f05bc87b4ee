"""The report's figures computed in the cache (SQL), equal to report/fetch.py's one-pass aggregation.

Exactly equal, not nearly: costs are summed as integers (each cost is numerator / 2**exp, scaled
to a common 2**-SCALE) and rounded to a float once, as `math.fsum` rounds the exact sum; quantiles
use DuckDB's `quantile_cont` (numpy's linear interpolation, the same arithmetic as
fetch.quantile); a session's median latency is `statistics.median`'s (the middle value, or the
mean of the two middle values). Python only touches one row per group or per session.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from claude_session.core import gateway_hints
from claude_session.phoenix.annotations import Outcome
from claude_session.report import attribution
from claude_session.report.cache.columns import DIMENSION_COLUMNS
from claude_session.report.fetch import Aggregation, Selection, group_order
from claude_session.report.model import GroupStats
from claude_session.report.stats import GroupSample
from claude_session.report.timewindow import iso

# Costs are summed as integers in units of 2**-SCALE dollars: exact for every cost from
# 2**-38 $ (3.6e-12) up, and a million spans of $1,000 each still fit DuckDB's 128-bit HUGEINT.
SCALE = 90
_FIXED_COST = (
    f"(CASE WHEN cost_exp <= {SCALE} THEN cost_num::HUGEINT << ({SCALE} - cost_exp) "
    f"ELSE cost_num::HUGEINT >> (cost_exp - {SCALE}) END)"
)
_BUCKET = (
    f"CASE WHEN request_class = '{gateway_hints.MAIN}' THEN '{attribution.MAIN}' "
    f"WHEN request_class = '{gateway_hints.SUBAGENT}' THEN '{attribution.SUBAGENT_PREFIX}' || "
    f"coalesce(nullif(agent_type, ''), '{attribution.UNKNOWN_AGENT}') ELSE '{attribution.REST}' END"
)


def dollars(fixed: int | None) -> float:
    """An exact integer sum in units of 2**-SCALE $, correctly rounded to a float (as math.fsum)."""
    return math.ldexp(float(fixed or 0), -SCALE)  # int -> float rounds correctly; ldexp is exact


def _group_expression(group_by: str) -> str:
    column = DIMENSION_COLUMNS[group_by]
    return f"nullif({column}, '')" if group_by == "model" else column  # an empty model name is none


def _selected(source: str, selection: Selection, group_by: str) -> tuple[str, list[Any]]:
    """The selection's spans with their group key `g` and cost bucket, as a CTE; and its parameters."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    for key, value in selection.values.items():
        where.append(f"{DIMENSION_COLUMNS[key]} = ?")
        params.append(value)
    if selection.start is not None:
        where.append("start_time >= ?")
        params.append(selection.start.astimezone(UTC).replace(tzinfo=None))
    if selection.end is not None:
        where.append("start_time < ?")
        params.append(selection.end.astimezone(UTC).replace(tzinfo=None))
    # Only column names and constants are written into the SQL; the user's values are parameters.
    sql = (
        f"sel AS (SELECT *, {_group_expression(group_by)} AS g, {_BUCKET} AS bucket, "  # noqa: S608
        f"{_FIXED_COST} AS cost_fixed FROM {source} WHERE {' AND '.join(where)})"
    )
    return sql, params


_PER_SESSION = """
CREATE OR REPLACE TEMP TABLE per_session AS
WITH {sel}, by_session AS (
  SELECT g, session_id, count(*) AS requests, sum(cost_fixed) AS cost,
         count(DISTINCT prompt_id) FILTER (WHERE prompt_id <> '') AS prompts,
         sum(prompt_tokens + completion_tokens) AS tokens,
         list(latency_ms ORDER BY latency_ms) FILTER (WHERE latency_ms IS NOT NULL) AS latencies
  FROM sel GROUP BY g, session_id
)
SELECT g, session_id, requests, cost, prompts, tokens,
       CASE WHEN len(latencies) = 0 OR latencies IS NULL THEN NULL
            WHEN len(latencies) % 2 = 1 THEN latencies[len(latencies) // 2 + 1]
            ELSE (latencies[len(latencies) // 2] + latencies[len(latencies) // 2 + 1]) / 2 END
         AS latency_p50
FROM by_session
"""

_GROUPS = """
WITH {sel}, figures AS (
SELECT g, count(*) AS requests, count(*) FILTER (WHERE status = 'ERROR') AS errors,
       sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion,
       sum(cache_read_tokens) AS cache_read, sum(cache_write_tokens) AS cache_write,
       sum(cost_fixed) AS cost,
       list(latency_ms ORDER BY latency_ms) FILTER (WHERE latency_ms IS NOT NULL) AS latencies,
       list(ttft_ms ORDER BY ttft_ms) FILTER (WHERE ttft_ms IS NOT NULL) AS ttfts,
       min(start_time) AS first_start, max(end_time) AS last_end,
       list(DISTINCT model) FILTER (WHERE model <> '') AS models,
       first(session_type ORDER BY start_time, span_id) AS session_type,
       first(prompt_version ORDER BY start_time, span_id) AS prompt_version,
       first(session_name ORDER BY start_time, span_id) AS session_name
FROM sel GROUP BY g
)
SELECT * EXCLUDE (latencies, ttfts), {ranks} FROM figures
"""
# The closest ranks around each quantile, taken from the sorted list in SQL; the interpolation
# itself is fetch.quantile's arithmetic, in Python, once per group.
_QUANTILES = (("latency", "latencies", 0.5), ("latency", "latencies", 0.95), ("ttft", "ttfts", 0.5))
_RANKS = ", ".join(
    f"len({lst}) AS n{i}, {lst}[floor((len({lst}) - 1) * {q})::BIGINT + 1] AS low{i}, "
    f"{lst}[least(floor((len({lst}) - 1) * {q})::BIGINT + 2, len({lst}))] AS high{i}"
    for i, (_, lst, q) in enumerate(_QUANTILES)
)


def interpolate(n: int | None, low: float | None, high: float | None, q: float) -> float | None:
    """fetch.quantile's value from the two closest ranks (None for no values)."""
    if not n or low is None or high is None:
        return None
    position = (n - 1) * q
    return low + (high - low) * (position - math.floor(position))


_BUCKETS = "WITH {sel} SELECT g, bucket, sum(cost_fixed) FROM sel GROUP BY g, bucket"

_TURNS = """
SELECT g, count(*) AS sessions, coalesce(sum(prompts), 0) AS turns,
       count(*) FILTER (WHERE prompts = 0) AS unknown,
       sum(cost) FILTER (WHERE prompts > 0) AS turn_cost
FROM per_session GROUP BY g
"""


@dataclass
class StoreAggregation:
    aggregation: Aggregation
    samples: dict[str, GroupSample]
    outcomes: dict[str, Outcome] | None = None  # the samples' sessions' ratings and checks (outcomes.py)


def aggregate_in_store(
    db: duckdb.DuckDBPyConnection, source: str, selection: Selection, group_by: str, samples: bool
) -> StoreAggregation:
    """Every group's figures (and, with `samples`, every session's) from the relation `source`."""
    began = time.perf_counter()
    sel, params = _selected(source, selection, group_by)
    db.execute(_PER_SESSION.format(sel=sel), params).fetchall()
    turns = {row[0]: row[1:] for row in db.execute(_TURNS).fetchall()}
    buckets: dict[str | None, dict[str, float]] = {}
    for key, bucket, fixed in db.execute(_BUCKETS.format(sel=sel), params).fetchall():
        buckets.setdefault(key, {})[bucket] = dollars(fixed)
    cursor = db.execute(_GROUPS.format(sel=sel, ranks=_RANKS), params)
    names = [d[0] for d in cursor.description]
    groups, spans = [], 0
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        spans += int(row["requests"])
        groups.append(_group(row, turns[row["g"]], buckets[row["g"]], selection, group_by))
    groups.sort(key=group_order(group_by), reverse=group_by == "session")
    session_ids = {
        str(s)
        for (s,) in db.execute(
            "SELECT DISTINCT session_id FROM per_session WHERE session_id IS NOT NULL"
        ).fetchall()
    }
    found = _samples(db) if samples else {}
    elapsed = time.perf_counter() - began
    return StoreAggregation(Aggregation(groups, spans, 0, 0.0, elapsed, session_ids), found)


def _moment(value: datetime | None) -> str | None:
    return iso(value.replace(tzinfo=UTC)) if value is not None else None


def _group(
    row: Mapping[str, Any],
    turns: tuple[Any, ...],
    buckets: Mapping[str, float],
    selection: Selection,
    group_by: str,
) -> GroupStats:
    key = row["g"]
    sessions, turn_count, unknown, turn_cost = turns
    p50, p95, ttft = (
        interpolate(row[f"n{i}"], row[f"low{i}"], row[f"high{i}"], q)
        for i, (_, _, q) in enumerate(_QUANTILES)
    )
    cache_read, cache_write = int(row["cache_read"]), int(row["cache_write"])
    by_session = group_by == "session"
    return GroupStats(
        key=key,
        sessions=int(sessions),
        requests=int(row["requests"]),
        errors=int(row["errors"]),
        input_tokens=int(row["prompt"]) - cache_read - cache_write,
        output_tokens=int(row["completion"]),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cost_usd=dollars(row["cost"]),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        ttft_p50_ms=ttft,
        start=_moment(row["first_start"]),
        end=_moment(row["last_end"]),
        span_filter=selection.span_filter(group_by, key),
        root_filter=selection.root_filter(group_by, key),
        models=sorted(row["models"] or []),
        session_type=row["session_type"] if by_session else None,
        prompt_version=row["prompt_version"] if by_session else None,
        session_name=row["session_name"] if by_session else None,
        cost_breakdown=attribution.ordered({attribution.MAIN: 0.0, attribution.REST: 0.0} | dict(buckets)),
        turns=int(turn_count),
        turns_unknown_sessions=int(unknown),
        turn_cost_usd=dollars(turn_cost),
    )


def _samples(db: duckdb.DuckDBPyConnection) -> dict[str, GroupSample]:
    """Per group label, the sessions (ordered as SessionCollector orders them) and their figures."""
    import numpy as np

    rows = db.execute("SELECT g, session_id, cost, tokens, requests, latency_p50 FROM per_session").fetchall()
    by_group: dict[str | None, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_group.setdefault(row[0], []).append(row[1:])
    result: dict[str, GroupSample] = {}
    for key, sessions in by_group.items():
        sessions.sort(key=lambda s: (s[0] is None, s[0] or ""))
        result["(none)" if key is None else key] = GroupSample(
            [s[0] for s in sessions],
            {
                "cost": np.array([dollars(s[1]) for s in sessions], dtype=np.float64),
                "tokens": np.array([float(s[2]) for s in sessions], dtype=np.float64),
                "requests": np.array([float(s[3]) for s in sessions], dtype=np.float64),
                "latency_p50": np.array(
                    [np.nan if s[4] is None else s[4] for s in sessions], dtype=np.float64
                ),
            },
        )
    return result
