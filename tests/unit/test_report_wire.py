"""The span query's two answer forms (Arrow, JSON) give the report the same rows (report/fetch.py)."""

from __future__ import annotations

import http.server
import math
import random
import threading
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from claude_session.phoenix.client import PhoenixClient
from claude_session.report.cache.columns import as_table, cache_table
from claude_session.report.fetch import SPAN_ID, TRACE_ID, WIRE, _arrow_fits, _arrow_rows, as_row, rows_of


def _wire_json_row() -> dict[str, Any]:
    """One span as Phoenix's JSON answer carries WIRE's leaves (absent attributes: None)."""
    return {
        "session_id": "s1",
        "session_type": "code-review",
        "session_prompt_version": "v2",
        "session_name": None,
        "session_user": "dev@example.com",
        "tokens_prompt": 1200,
        "tokens_completion": 50,
        "tokens_cache_read": 1000,
        "tokens_cache_write": None,
        "hint_request_class": "subagent",
        "hint_agent_type": "Explore",
        "hint_prompt_id": "p1",
        "cost": 0.00375,
        "model": "claude-sonnet-4-5",
        "ttft": None,
        "start": "2026-12-02T16:28:19.252863000Z",
        "end": "2026-12-02T16:28:20.000000000Z",
        "latency": 747.137,
        "status": "OK",
        TRACE_ID: "7b84535b38b11b5baae64de8e25c2ad3",
        SPAN_ID: "b96169590f14950a",
    }


def _as_arrow(rows: list[dict[str, Any]], **types: pa.DataType) -> pa.Table:
    """The same rows as Phoenix's Arrow answer: pandas' types (counts as doubles with NaN for a
    missing one, times as UTC timestamps)."""
    columns: dict[str, pa.Array] = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if name in ("start", "end"):
            parsed = [datetime.fromisoformat(v[:26]).replace(tzinfo=UTC) for v in values]
            columns[name] = pa.array(parsed, pa.timestamp("us", tz="UTC"))
        elif name.startswith("tokens_") or name in ("cost", "latency", "ttft"):
            columns[name] = pa.array([math.nan if v is None else float(v) for v in values], pa.float64())
        else:
            columns[name] = pa.array(values, types.get(name, pa.large_string()))
    return pa.table(columns)


def test_the_arrow_answer_gives_the_json_answers_rows() -> None:
    json_rows = [_wire_json_row(), {**_wire_json_row(), SPAN_ID: "b2", "session_id": None, "cost": None}]
    fitted = _arrow_fits(_as_arrow(json_rows))
    assert fitted is not None
    arrow_rows = _arrow_rows(fitted)
    assert [as_row(r) for r in arrow_rows] == [as_row(r) for r in json_rows]


def test_a_row_rebuilds_the_objects_the_report_reads() -> None:
    row = as_row(_wire_json_row())
    assert row["session"] == {
        "id": "s1",
        "type": "code-review",
        "prompt_version": "v2",
        "user": "dev@example.com",
    }
    assert row["tokens"] == {"prompt": 1200, "completion": 50, "prompt_details": {"cache_read": 1000}}
    assert row["claude_code"] == {"request_class": "subagent", "agent_type": "Explore", "prompt_id": "p1"}
    assert row[SPAN_ID] == "b96169590f14950a" and row[TRACE_ID] == "7b84535b38b11b5baae64de8e25c2ad3"
    bare = as_row({name: None for name in WIRE} | {SPAN_ID: "x"})
    assert bare["session"] is None and bare["tokens"] is None and bare["claude_code"] is None


@pytest.mark.parametrize("column", ["session_id", "model", "start"])
def test_a_column_arrow_types_otherwise_than_json_sends_the_query_to_json(column: str) -> None:
    """Numeric session ids, say: the JSON answer keeps them as numbers, so the Arrow one is set aside."""
    rows = [_wire_json_row()]
    table = _as_arrow(rows).set_column(list(rows[0]).index(column), column, pa.array([12.0], pa.float64()))
    assert _arrow_fits(table) is None


def test_the_wire_asks_for_leaves_only() -> None:
    assert WIRE["session_id"] == "session.id"
    assert WIRE["tokens_cache_read"] == "llm.token_count.prompt_details.cache_read"
    assert WIRE["hint_request_class"] == "claude_code.request_class"


def test_the_cache_stores_an_arrow_page_as_it_would_store_its_rows() -> None:
    """cache_table reads Phoenix's Arrow answer column by column; the rows of the same page, through
    as_table, must give the very same table (cached and uncached reports read the same figures)."""
    rng = random.Random(3)
    rows = []
    for i in range(300):
        row = _wire_json_row()
        row[SPAN_ID] = f"{i:016x}"
        for name in ("session_id", "session_name", "hint_request_class", "hint_agent_type", "model"):
            row[name] = rng.choice([None, "", f"{name}-{rng.randint(0, 3)}"])
        for name in ("tokens_prompt", "tokens_completion", "tokens_cache_read", "tokens_cache_write"):
            row[name] = rng.choice([None, 0, rng.randint(1, 10**6)])
        row["cost"] = rng.choice([None, 0.0, rng.random() * 10 ** rng.randint(-9, 2), 2.0**-40])
        row["latency"] = rng.choice([None, rng.random() * 9000])
        row["start"] = (
            f"2026-12-0{rng.randint(1, 9)}T1{rng.randint(0, 9)}:28:19.{rng.randint(0, 999999):06d}000Z"
        )
        rows.append(row)
    table = _arrow_fits(_as_arrow(rows))
    assert table is not None
    wanted = as_table(rows_of(table))
    got = cache_table(table)
    assert got.schema == wanted.schema
    assert got.to_pylist() == wanted.to_pylist()
    assert (
        cache_table([as_row(r) for r in rows]).to_pylist() == as_table([as_row(r) for r in rows]).to_pylist()
    )
    all_none = _arrow_fits(pa.table({SPAN_ID: pa.array(["a"]), "ttft": pa.nulls(1)}))
    assert (
        all_none is not None and cache_table(all_none).to_pylist() == as_table(rows_of(all_none)).to_pylist()
    )


class _BrokenArrow(http.server.BaseHTTPRequestHandler):
    """Answers the span query as Phoenix does when pandas' frame cannot become Arrow: 200, a
    chunked body, then the connection closed mid-answer."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "application/x-pandas-arrow")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"100\r\n" + b"\xff" * 16)  # a chunk announced as 256 bytes, cut short
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


def test_an_arrow_answer_broken_off_asks_for_json_instead() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BrokenArrow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = PhoenixClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
        assert client.query_spans_arrow("p", WIRE, "name == 'litellm_request'") is None
    finally:
        server.shutdown()
        server.server_close()
