"""The report cache (report/cache) in-process: its SQL aggregation against the one-pass Python
aggregation on the same rows (every group figure, quantile and per-session sample, compared as
JSON text so that a last-bit difference fails), and the cache file itself: owner-only modes, a
corrupted file or another schema rebuilt with one line, no prompt text stored."""

from __future__ import annotations

import json
import random
import stat
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from claude_session.report.cache.aggregate import aggregate_in_store
from claude_session.report.cache.columns import as_table
from claude_session.report.cache.store import SpanStore, open_store
from claude_session.report.fetch import GROUP_BY, Selection, aggregate
from claude_session.report.samples import SessionCollector

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"  # Phoenix's nanosecond form


def random_rows(seed: int, count: int) -> list[dict[str, Any]]:
    """Rows with every shape the report meets: missing sessions, fields, hints, tokens, costs,
    latencies; empty strings; costs from micro-dollars to dollars."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        start = T0 + timedelta(seconds=rng.random() * 3 * 86400)
        session = {
            "id": rng.choice([None, *(f"s{k}" for k in range(60))]),
            "type": rng.choice(["a", "b", None]),
            "prompt_version": rng.choice(["v1", "v2"]),
            "name": rng.choice([None, "n", ""]),
            "user": rng.choice(["u1", "u2"]),
        }
        hints = {
            "request_class": rng.choice(["main", "subagent", "aux", None, ""]),
            "agent_type": rng.choice(["general-purpose", "", None]),
            "prompt_id": rng.choice([None, "", "p1", "p2", "p3"]),
        }
        tokens = {
            "prompt": rng.randint(0, 10**6),
            "completion": rng.randint(0, 9999),
            "prompt_details": {"cache_read": rng.randint(0, 100), "cache_write": rng.randint(0, 50)},
        }
        rows.append(
            {
                "context.span_id": f"{i:016x}",
                "trace_id": f"{i:032x}",
                "start": _stamp(start),
                "end": _stamp(start + timedelta(seconds=rng.random() * 30)),
                "session": {k: v for k, v in session.items() if v is not None}
                if rng.random() < 0.95
                else None,
                "claude_code": {k: v for k, v in hints.items() if v is not None}
                if rng.random() < 0.8
                else None,
                "model": rng.choice(["m1", "m2", "", None]),
                "status": rng.choice(["OK", "OK", "ERROR"]),
                "tokens": rng.choice([None, tokens]),
                "cost": rng.choice([None, 0.0, rng.random() * rng.choice([1e-6, 1e-3, 1.0, 10.0])]),
                "latency": rng.choice([None, rng.random() * 5000]),
                "ttft": rng.choice([None, rng.random() * 800]),
            }
        )
    return rows


def _matches(row: dict[str, Any], selection: Selection) -> bool:
    """The selection as Phoenix applies it (the uncached path gets exactly these rows)."""
    start = datetime.fromisoformat(row["start"][:26]).replace(tzinfo=UTC)
    if selection.start is not None and start < selection.start:
        return False
    if selection.end is not None and start >= selection.end:
        return False
    session = row["session"] or {}
    keys = {"session": "id"}
    return all(session.get(keys.get(k, k)) == v for k, v in selection.values.items())


def _as_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda a: a.tolist())


@pytest.fixture
def store(tmp_path: Path) -> SpanStore:
    return open_store(tmp_path / "cache" / "spans.duckdb", [])


SELECTIONS = [
    Selection(),
    Selection({"type": "a"}),
    Selection({"prompt_version": "v2", "user": "u1"}),
    Selection({}, T0 + timedelta(days=1), T0 + timedelta(days=2)),
]


@pytest.mark.parametrize("group_by", list(GROUP_BY))
@pytest.mark.parametrize("selection", SELECTIONS, ids=["all", "type", "version-user", "window"])
def test_sql_aggregation_equals_the_python_pass(
    store: SpanStore, group_by: str, selection: Selection
) -> None:
    rows = random_rows(seed=7, count=3000)
    store.replace_range(None, None, [as_table(rows[:1000]), as_table(rows[1000:])])
    shuffled = [r for r in rows if _matches(r, selection)]
    random.Random(3).shuffle(shuffled)  # Phoenix sends rows in no particular order
    collector = SessionCollector()
    want = aggregate([shuffled[:1500], shuffled[1500:]], selection, group_by, collector)
    got = aggregate_in_store(store.db, "spans", selection, group_by, samples=True)
    assert want.groups, "the selection matched rows"
    assert _as_text([g.to_dict() for g in got.aggregation.groups]) == _as_text(
        [g.to_dict() for g in want.groups]
    )
    assert got.aggregation.session_ids == want.session_ids
    assert got.aggregation.spans == want.spans == len(shuffled)
    samples = collector.samples()
    assert set(got.samples) == set(samples)
    for label, sample in samples.items():
        assert got.samples[label].sessions == sample.sessions
        assert _as_text(got.samples[label].values) == _as_text(sample.values)


def test_costs_sum_exactly_as_fsum_does(store: SpanStore) -> None:
    """0.1 ten times is 1.0 exactly by math.fsum, 0.9999999999999999 by a float loop."""
    rows = random_rows(seed=1, count=10)
    for row in rows:
        row["cost"], row["session"] = 0.1, {"id": "one", "prompt_version": "v1"}
    store.replace_range(None, None, [as_table(rows)])
    got = aggregate_in_store(store.db, "spans", Selection(), "prompt_version", samples=True)
    assert got.aggregation.groups[0].cost_usd == 1.0
    assert got.samples["v1"].values["cost"].tolist() == [1.0]


def test_the_file_and_its_directory_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "spans.duckdb"
    with open_store(path, []) as opened:
        opened.replace_range(None, None, [as_table(random_rows(seed=2, count=50))])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_corrupted_file_is_rebuilt_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    path.write_bytes(b"this is not a database" * 500)
    notices: list[str] = []
    with open_store(path, notices) as opened:
        assert opened.count() == 0
    assert len(notices) == 1 and "unreadable" in notices[0] and str(path) in notices[0]


def test_another_schema_is_rebuilt_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spans.duckdb"
    with open_store(path, []) as opened:
        opened.replace_range(None, None, [as_table(random_rows(seed=2, count=20))])
        opened.set_meta({"schema_version": "0"})
    notices: list[str] = []
    with open_store(path, notices) as opened:
        assert opened.count() == 0
    assert len(notices) == 1 and "another cache schema (0" in notices[0]


def test_no_prompt_or_header_reaches_the_file(tmp_path: Path) -> None:
    """A row carrying more than the report selects (a prompt, a header) stores only its columns."""
    rows = random_rows(seed=4, count=5)
    for row in rows:
        row["input"] = "PROMPT-MARKER-3141"
        row["headers"] = {"x-api-key": "sk-ant-SECRET-2718"}
    path = tmp_path / "spans.duckdb"
    with open_store(path, []) as opened:
        opened.replace_range(None, None, [as_table(rows)])
    wal = path.with_name(path.name + ".wal")
    data = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"s1" in data  # a session id the rows carry is there to be found
    assert b"PROMPT-MARKER" not in data and b"SECRET-2718" not in data


def test_a_row_as_phoenix_sends_it() -> None:
    """Phoenix's span query names the ids by their keys (the span id is the table's index)."""
    row = {
        "context.span_id": "b96169590f14950a",
        "context.trace_id": "7b84535b38b11b5baae64de8e25c2ad3",
        "session": {"id": "s", "type": "code-review", "prompt_version": "v1", "user": "dev00@example.com"},
        "tokens": {
            "total": 76839,
            "prompt": 76687,
            "completion": 152,
            "prompt_details": {"cache_read": 71805},
        },
        "cost": 0.04084725,
        "model": "claude-sonnet-4-5",
        "ttft": None,
        "start": "2026-12-02T16:28:19.252863999Z",
        "end": "2026-12-02T16:28:20.075778000Z",
        "latency": 822.915,
        "status": "OK",
        "claude_code": {"prompt_id": "p0", "request_class": "main"},
    }
    table = as_table([row]).to_pylist()[0]
    assert table["span_id"] == "b96169590f14950a" and table["trace_id"] == "7b84535b38b11b5baae64de8e25c2ad3"
    assert table["start_time"] == datetime(2026, 12, 2, 16, 28, 19, 252863)  # nanoseconds cut, not rounded
    assert Fraction(table["cost_num"], 2 ** table["cost_exp"]) == Fraction(0.04084725)  # exactly the float
    assert (
        table["cache_write_tokens"] == 0 and table["request_class"] == "main" and table["prompt_id"] == "p0"
    )


def test_a_first_fill_after_the_sync_s_reads(store: SpanStore) -> None:
    """What a first sync does: read the store (counts, newest), then add pages one by one, then
    replace a window; DuckDB refuses to take a page while an earlier result is still pending."""
    rows = random_rows(seed=9, count=200)
    store.delete_before(datetime(2000, 1, 1))
    assert store.newest_start() is None and store.count() == 0
    assert store.fill([as_table(rows[:100]), as_table(rows[100:])]) == 200
    assert store.fill([as_table(rows[:50])]) == 50 and store.count() == 200  # upserted by span id
    assert store.replace_range(None, None, [as_table(rows[:120])]) == 120 and store.count() == 120
