"""A million `litellm_request` spans written straight into Phoenix's own PostgreSQL tables.

Loading through OTLP runs at ~100 spans/s here (hours for a million). This writes the rows
Phoenix itself would write for the same spans (projects, project_sessions, traces, spans, with
the attributes JSON nested as Phoenix nests dotted keys) with PostgreSQL's COPY (asyncpg's
copy_records_to_table), in one transaction, vacuumed and analyzed; then Phoenix is restarted so
that nothing it cached predates the rows. Honest because Phoenix's API then answers for them
like for any span: `check` compares Phoenix's own span count and a span read back through its
REST API with what was written. No span costs are written (Phoenix prices spans as they arrive), so
Phoenix's cost check shows $0 for this data: the bench runs `report --no-phoenix-check`.

    .venv/bin/python -m bench.pg_load URL PROJECT [--spans N] [--sessions N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench import report_data

USERS = 20
CHUNK = 50_000
PROMPT_CHUNK = 2_000  # with ~33 KB prompts: ~70 MB a COPY
TABLES = ("project_sessions", "traces", "spans")  # the tables written, whose ids it sets


def _moment(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def attributes(spec: report_data.SpanSpec, user: str, prompt_id: str, payload: str = "") -> dict[str, Any]:
    """The span's attributes as Phoenix stores them (dotted keys nested); `payload` stands in for
    the prompt (Claude Code's spans carry ~33 KB of invocation parameters)."""
    session: dict[str, Any] = {
        "id": spec.session_id,
        "type": spec.session_type,
        "prompt_version": spec.prompt_version,
        "user": user,
    }
    if spec.session_name:
        session["name"] = spec.session_name
    llm: dict[str, Any] = {
        "model_name": spec.model,
        "provider": "",
        "cost": {"total": spec.cost},
        "request": {"type": "anthropic_messages"},
        "is_streaming": "True",
        "invocation_parameters": payload or '{"max_tokens": 32000}',
    }
    if not spec.error:
        prompt = spec.input_tokens + spec.cache_read + spec.cache_write
        llm["token_count"] = {
            "prompt": prompt,
            "completion": spec.output_tokens,
            "total": prompt + spec.output_tokens,
            "prompt_details": {"cache_read": spec.cache_read, "cache_write": spec.cache_write},
        }
    found: dict[str, Any] = {
        "openinference": {"span": {"kind": "LLM"}},
        "session": session,
        "llm": llm,
        "claude_code": {"request_class": "main", "prompt_id": prompt_id},
    }
    if spec.ttft_ms is not None:
        found["claude_session"] = {"ttft_ms": spec.ttft_ms}
    return found


async def load(url: str, project: str, specs: list[report_data.SpanSpec], payload: str = "") -> int:
    db = await asyncpg.connect(url)
    try:
        async with db.transaction():
            project_id = await db.fetchval(
                "INSERT INTO projects (name) VALUES ($1) "
                "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                project,
            )
            sessions: dict[str, list[int]] = {}
            for spec in specs:
                bounds = sessions.setdefault(spec.session_id, [spec.start_ns, spec.end_ns])
                bounds[0], bounds[1] = min(bounds[0], spec.start_ns), max(bounds[1], spec.end_ns)
            first_session = int(await db.fetchval("SELECT coalesce(max(id), 0) + 1 FROM project_sessions"))
            session_rows = {sid: first_session + i for i, sid in enumerate(sessions)}
            await db.copy_records_to_table(
                "project_sessions",
                records=[
                    (session_rows[sid], sid, project_id, _moment(a), _moment(b))
                    for sid, (a, b) in sessions.items()
                ],
                columns=["id", "session_id", "project_id", "start_time", "end_time"],
            )
            first_trace = int(await db.fetchval("SELECT coalesce(max(id), 0) + 1 FROM traces"))
            first_span = int(await db.fetchval("SELECT coalesce(max(id), 0) + 1 FROM spans"))
            step = CHUNK if not payload else PROMPT_CHUNK
            for start in range(0, len(specs), step):
                chunk = specs[start : start + step]
                await db.copy_records_to_table(
                    "traces",
                    records=[
                        (
                            first_trace + start + i,
                            project_id,
                            f"{s.trace_id:032x}",
                            _moment(s.start_ns),
                            _moment(s.end_ns),
                            session_rows[s.session_id],
                        )
                        for i, s in enumerate(chunk)
                    ],
                    columns=[
                        "id",
                        "project_rowid",
                        "trace_id",
                        "start_time",
                        "end_time",
                        "project_session_rowid",
                    ],
                )
                await db.copy_records_to_table(
                    "spans", records=_span_rows(chunk, start, first_trace, first_span, payload)
                )
                print(f"  wrote {start + len(chunk):,} spans", file=sys.stderr, flush=True)
            for table in TABLES:
                # Fixed table names; Phoenix's own inserts continue after the written ids.
                await db.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")  # noqa: S608
        # Done now, not by autovacuum: its first pass over a million fresh rows (about 5 s of
        # both cores here) ran during a bench's warm reports and slowed them 0.5 s.
        for table in TABLES:  # outside the transaction: VACUUM cannot run in one
            await db.execute(f"VACUUM ANALYZE {table}")
        return int(project_id)
    finally:
        await db.close()


def _span_rows(
    chunk: list[report_data.SpanSpec], start: int, first_trace: int, first_span: int, payload: str
) -> Iterator[tuple[Any, ...]]:
    for i, s in enumerate(chunk):
        index = start + i
        prompt = None if s.error else s.input_tokens + s.cache_read + s.cache_write
        completion = None if s.error else s.output_tokens
        yield (
            first_span + index,
            first_trace + index,
            f"{s.span_id:016x}",
            None,
            report_data.LLM_SPAN,
            "LLM",
            _moment(s.start_ns),
            _moment(s.end_ns),
            json.dumps(
                attributes(s, f"dev{index % USERS:02d}@example.com", f"{s.session_id}-p{index // 5}", payload)
            ),
            "[]",
            "ERROR" if s.error else "OK",
            "fake upstream error" if s.error else "",
            1 if s.error else 0,
            prompt or 0,
            completion or 0,
            prompt,
            completion,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("project")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--days", type=float, default=90.0, help="spread over the last DAYS days")
    parser.add_argument(
        "--ending", type=float, default=0.0, help="DAYS before now (a spool replay's old spans)"
    )
    parser.add_argument(
        "--min-days", type=float, default=0.05, help="sessions start at least DAYS before the end"
    )
    parser.add_argument(
        "--think", type=float, nargs=2, default=(2.0, 60.0), help="seconds between requests: LOW HIGH"
    )
    parser.add_argument("--payload-bytes", type=int, default=0, help="a prompt attribute this long")
    args = parser.parse_args()
    payload = (
        json.dumps({"max_tokens": 32000, "system": "x" * args.payload_bytes}) if args.payload_bytes else ""
    )
    end_ns = time.time_ns() - int(args.ending * 86_400e9)
    specs = report_data.synthetic_specs(
        args.spans,
        args.sessions,
        seed=args.seed,
        days=args.days,
        end_ns=end_ns,
        min_days=args.min_days,
        think_s=tuple(args.think),
    )
    began = time.perf_counter()
    project_id = asyncio.run(load(args.url, args.project, specs, payload))
    print(
        f"wrote {len(specs):,} spans into project {args.project} (id {project_id}) "
        f"in {time.perf_counter() - began:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
