"""The report cache's own share of a report over a million spans, in-process (no Phoenix).

Rows shaped like Phoenix's span query answer (report/fetch.py's COLUMNS) for report_data's
synthetic spans are written into a fresh cache file in pages of 25,000 (what a cold fill does
after each page arrives), then each report variant is aggregated in the store (what every
warm report does after its sync). Prints one Markdown table and the process's peak RSS.
What this leaves out: Phoenix's time to answer the span pages (cold) and the sync's few
queries (warm); see bench/README.md.

    .venv/bin/python -m bench.cache_bench [--spans N] [--sessions N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import report_data
from claude_session.report.cache.aggregate import aggregate_in_store
from claude_session.report.cache.columns import as_table
from claude_session.report.cache.store import open_store
from claude_session.report.fetch import SPAN_ID, Selection
from claude_session.report.timewindow import iso

PAGE = 25_000
USERS = 20


def rows(specs: list[report_data.SpanSpec]) -> Iterator[list[dict[str, Any]]]:
    """Pages of span-query rows, as Phoenix sends them."""
    from datetime import UTC, datetime

    page: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        session = {"id": spec.session_id, "type": spec.session_type, "prompt_version": spec.prompt_version}
        session["user"] = f"dev{index % USERS:02d}@example.com"
        if spec.session_name:
            session["name"] = spec.session_name
        prompt = spec.input_tokens + spec.cache_read + spec.cache_write
        page.append(
            {
                SPAN_ID: f"{spec.span_id:016x}",
                "trace_id": f"{spec.trace_id:032x}",
                "start": iso(datetime.fromtimestamp(spec.start_ns / 1e9, UTC)),
                "end": iso(datetime.fromtimestamp(spec.end_ns / 1e9, UTC)),
                "session": session,
                "claude_code": {"request_class": "main", "prompt_id": f"p{index // 7}"},
                "model": spec.model,
                "status": "ERROR" if spec.error else "OK",
                "tokens": None
                if spec.error
                else {
                    "prompt": prompt,
                    "completion": spec.output_tokens,
                    "prompt_details": {"cache_read": spec.cache_read, "cache_write": spec.cache_write},
                },
                "cost": spec.cost,
                "latency": spec.latency_ms,
                "ttft": spec.ttft_ms,
            }
        )
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


VARIANTS = {
    "by prompt version (with per-session samples)": ("prompt_version", Selection(), True),
    "by type (with per-session samples)": ("type", Selection(), True),
    "by user": ("user", Selection(), True),
    "sessions (a session list)": ("session", Selection(), False),
    "`--type debugging`, by version": ("prompt_version", Selection({"type": "debugging"}), True),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=20_000)
    args = parser.parse_args()
    began = time.perf_counter()
    specs = report_data.synthetic_specs(args.spans, args.sessions, seed=5, days=90)
    print(f"{len(specs):,} synthetic spans in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spans.duckdb"
        store = open_store(path, [])
        convert = write = 0.0
        for page in rows(specs):
            t0 = time.perf_counter()
            table = as_table(page)
            t1 = time.perf_counter()
            store.db.register("p", table)  # the cold fill's insert, one page at a time
            store.db.execute("INSERT OR REPLACE INTO spans SELECT * FROM p")
            store.db.unregister("p")
            convert, write = convert + t1 - t0, write + time.perf_counter() - t1
        del specs
        print("| step | seconds |\n|---|---:|")
        print(f"| cold fill: rows to columns ({args.spans:,} spans) | {convert:.2f} |")
        print(f"| cold fill: writing them to the file | {write:.2f} |")
        for name, (group_by, selection, samples) in VARIANTS.items():
            t0 = time.perf_counter()
            found = aggregate_in_store(store.db, "spans", selection, group_by, samples)
            took = time.perf_counter() - t0
            print(f"| warm aggregation, {name}: {len(found.aggregation.groups):,} groups | {took:.2f} |")
        store.close()
        print(f"\ncache file: {path.stat().st_size / 2**20:.0f} MB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
