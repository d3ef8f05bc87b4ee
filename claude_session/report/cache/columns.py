"""Fetched span rows (report/fetch.py's COLUMNS) as the cache's columns: only what reports read.

A row's `session` and `claude_code` objects become flat columns; token counts become integers
the way the uncached aggregation reads them; the cost is kept exactly (its numerator and the
power of two of its denominator) so that sums in SQL are exact and round like `math.fsum`.
Never a prompt, an output or a header: the row holds none (the span query selects columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from claude_session.core import gateway_hints
from claude_session.report import attribution
from claude_session.report.fetch import SPAN_ID
from claude_session.report.timewindow import parse_iso

# The cache table's columns and their types (DuckDB SQL), in order.
SCHEMA: Mapping[str, str] = {
    "span_id": "VARCHAR",  # unique: each write deletes the ids it brings first (no index to keep)
    "trace_id": "VARCHAR",
    "start_time": "TIMESTAMP",  # UTC, microseconds (what parse_iso keeps of Phoenix's nanoseconds)
    "end_time": "TIMESTAMP",
    "session_id": "VARCHAR",
    "session_type": "VARCHAR",
    "prompt_version": "VARCHAR",
    "session_name": "VARCHAR",
    "session_user": "VARCHAR",
    "request_class": "VARCHAR",
    "agent_type": "VARCHAR",
    "prompt_id": "VARCHAR",
    "model": "VARCHAR",
    "status": "VARCHAR",
    "prompt_tokens": "BIGINT",  # includes cache reads and writes, as LiteLLM counts it
    "completion_tokens": "BIGINT",
    "cache_read_tokens": "BIGINT",
    "cache_write_tokens": "BIGINT",
    "cost_num": "BIGINT",  # cost = cost_num / 2**cost_exp, exactly
    "cost_exp": "SMALLINT",
    "latency_ms": "DOUBLE",
    "ttft_ms": "DOUBLE",
}
_ARROW: Mapping[str, pa.DataType] = {
    "start_time": pa.timestamp("us"),
    "end_time": pa.timestamp("us"),
    "prompt_tokens": pa.int64(),
    "completion_tokens": pa.int64(),
    "cache_read_tokens": pa.int64(),
    "cache_write_tokens": pa.int64(),
    "cost_num": pa.int64(),
    "cost_exp": pa.int16(),
    "latency_ms": pa.float64(),
    "ttft_ms": pa.float64(),
}
TRACE_ID = "context.trace_id"  # the name Phoenix's span query answers the trace id under
# Report dimension -> the cache column it groups by.
DIMENSION_COLUMNS: Mapping[str, str] = {
    "session": "session_id",
    "type": "session_type",
    "prompt_version": "prompt_version",
    "name": "session_name",
    "user": "session_user",
    "request_class": "request_class",
    "agent_type": "agent_type",
    "model": "model",
}
_SESSION_FIELDS = {"id": "session_id", "type": "session_type", "prompt_version": "prompt_version"}
_SESSION_FIELDS |= {"name": "session_name", "user": "session_user"}
# Key in the row's `claude_code` object (the gateway hints) -> column.
_HINTS = {
    hint.attribute.partition(".")[2]: column
    for hint, column in (
        (gateway_hints.REQUEST_CLASS, "request_class"),
        (gateway_hints.AGENT_TYPE, "agent_type"),
        (gateway_hints.PROMPT_ID, "prompt_id"),
    )
}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _moment(text: object) -> datetime | None:
    """A naive UTC datetime (the TIMESTAMP column) from Phoenix's timestamp string."""
    if not text:
        return None
    value = str(text)
    if len(value) == 30 and value[19] == "." and value[-1] == "Z":  # Phoenix's '...:19.252863000Z'
        return datetime.fromisoformat(value[:26])  # what parse_iso keeps (microseconds), 5x faster
    return parse_iso(value).replace(tzinfo=None)


def exact_cost(value: object) -> tuple[int, int]:
    """(numerator, log2 of the denominator): the float cost exactly, as `float(cost or 0.0)` reads it."""
    numerator, denominator = float(value or 0.0).as_integer_ratio()  # type: ignore[arg-type]
    return numerator, denominator.bit_length() - 1


def as_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """The rows as an Arrow table with the cache's columns (one Python pass, then bulk inserted)."""
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA}
    for row in rows:
        columns["span_id"].append(_text(row.get(SPAN_ID)))
        columns["trace_id"].append(_text(row.get(TRACE_ID, row.get("trace_id"))))
        columns["start_time"].append(_moment(row.get("start")))
        columns["end_time"].append(_moment(row.get("end")))
        session = row.get("session") if isinstance(row.get("session"), dict) else {}
        for key, column in _SESSION_FIELDS.items():
            columns[column].append(_text(session.get(key)))  # type: ignore[union-attr]
        hints = attribution.hints(row)
        for key, column in _HINTS.items():
            columns[column].append(_text(hints.get(key)))
        columns["model"].append(_text(row.get("model")))
        columns["status"].append(_text(row.get("status")))
        tokens = row.get("tokens") or {}
        details = tokens.get("prompt_details") or {}
        columns["prompt_tokens"].append(int(tokens.get("prompt") or 0))
        columns["completion_tokens"].append(int(tokens.get("completion") or 0))
        columns["cache_read_tokens"].append(int(details.get("cache_read") or 0))
        columns["cache_write_tokens"].append(int(details.get("cache_write") or 0))
        numerator, exponent = exact_cost(row.get("cost"))
        columns["cost_num"].append(numerator)
        columns["cost_exp"].append(exponent)
        columns["latency_ms"].append(None if row.get("latency") is None else float(row["latency"]))
        columns["ttft_ms"].append(None if row.get("ttft") is None else float(row["ttft"]))
    return pa.table(
        {name: pa.array(values, type=_ARROW.get(name, pa.string())) for name, values in columns.items()}
    )


def cache_table(page: pa.Table | list[dict[str, Any]]) -> pa.Table:
    """A fetched page (report/fetch.py's fetch_wire) as the cache's table: rows through `as_table`,
    Phoenix's Arrow answer column by column, to the same values as its rows would give."""
    if isinstance(page, list):
        return as_table(page)
    import pyarrow.compute as pc

    rows = page.num_rows

    def column(name: str, kind: pa.DataType) -> pa.Array:
        if name not in page.column_names or pa.types.is_null(page.column(name).type):
            return pa.nulls(rows, kind)
        return page.column(name).combine_chunks().cast(kind, safe=False)

    def count(name: str) -> pa.Array:  # int(value or 0), as the rows are read
        return pc.fill_null(column(name, pa.float64()), 0.0).cast(pa.int64(), safe=False)

    costs = [exact_cost(value) for value in column("cost", pa.float64()).to_pylist()]
    utc = pa.timestamp("us", tz="UTC")
    moments = {name: column(name, utc).cast(pa.timestamp("us")) for name in ("start", "end")}  # naive UTC
    out = {
        "span_id": column(SPAN_ID, pa.string()),
        "trace_id": column(TRACE_ID if TRACE_ID in page.column_names else "trace_id", pa.string()),
        "start_time": moments["start"],
        "end_time": moments["end"],
        **{name: column(leaf, pa.string()) for name, leaf in _WIRE_TEXT.items()},
        "model": column("model", pa.string()),
        "status": column("status", pa.string()),
        **{name: count(leaf) for name, leaf in _WIRE_COUNTS.items()},
        "cost_num": pa.array([c[0] for c in costs], pa.int64()),
        "cost_exp": pa.array([c[1] for c in costs], pa.int16()),
        "latency_ms": column("latency", pa.float64()),
        "ttft_ms": column("ttft", pa.float64()),
    }
    return pa.table({name: out[name] for name in SCHEMA})


# The cache's columns -> the wire's (report/fetch.py's WIRE) they come from.
_WIRE_TEXT = {
    "session_id": "session_id",
    "session_type": "session_type",
    "prompt_version": "session_prompt_version",
    "session_name": "session_name",
    "session_user": "session_user",
    "request_class": "hint_request_class",
    "agent_type": "hint_agent_type",
    "prompt_id": "hint_prompt_id",
}
_WIRE_COUNTS = {
    "prompt_tokens": "tokens_prompt",
    "completion_tokens": "tokens_completion",
    "cache_read_tokens": "tokens_cache_read",
    "cache_write_tokens": "tokens_cache_write",
}
