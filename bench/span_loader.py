"""Loading report_bench's spans into Phoenix with arize-phoenix-otel (`phoenix.otel.register`).

A TracerProvider from `register(project_name=...)` (its resource carries
`openinference.project.name`, which Phoenix routes by) with an OTLP/HTTP exporter and a
BatchSpanProcessor sized for a bulk load: each chunk of spans is ended with the spec's
own ids and timestamps, then flushed. Between chunks the loader waits for Phoenix to
store what it was sent, keeping Phoenix's ingest queue (20,000 spans, 503 beyond) short.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode
from phoenix.otel import HTTPSpanExporter, register

from bench.report_data import LLM_SPAN, SpanSpec, span_attributes
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.cursors import fresh_range

CHUNK = 1000  # spans sent before waiting for Phoenix
EXPORT_BATCH = 500  # spans per OTLP request: ~17 MB before gzip with 33 KB prompts (limit 64 MiB)
EXPORT_TIMEOUT_S = 120.0  # one request, retries included (a 503 from a busy Phoenix is retried)
AHEAD = 4 * CHUNK  # spans sent but not yet stored that the loader allows


class SpecIds(IdGenerator):
    """Hands the SDK the trace and span id of the spec being started (the data set is deterministic)."""

    def __init__(self) -> None:
        self.spec: SpanSpec | None = None

    def generate_trace_id(self) -> int:
        assert self.spec is not None
        return self.spec.trace_id

    def generate_span_id(self) -> int:
        assert self.spec is not None
        return self.spec.span_id


def tracer_provider(base_url: str, project: str, ids: IdGenerator) -> TracerProvider:
    """`register`'s provider for `project`, exporting over OTLP/HTTP (gzip) in batches of EXPORT_BATCH."""
    provider: TracerProvider = register(
        endpoint=base_url.rstrip("/") + "/v1/traces",
        project_name=project,
        protocol="http/protobuf",
        batch=True,
        set_global_tracer_provider=False,
        verbose=False,
        resource=Resource.create({"service.name": "litellm"}),
        id_generator=ids,
    )
    exporter = HTTPSpanExporter(
        endpoint=base_url.rstrip("/") + "/v1/traces", compression=Compression.Gzip, timeout=EXPORT_TIMEOUT_S
    )
    processor = BatchSpanProcessor(
        exporter,
        max_queue_size=2 * CHUNK,  # a chunk always fits: nothing is dropped
        max_export_batch_size=EXPORT_BATCH,
        schedule_delay_millis=60_000,  # exports run when a batch is full or on flush
        export_timeout_millis=int(EXPORT_TIMEOUT_S * 1000),
    )
    provider.add_span_processor(processor)  # replaces register's default processor
    return provider


def send(provider: TracerProvider, ids: SpecIds, specs: Sequence[SpanSpec], payload: str) -> None:
    """End one span per spec, with its ids, times, attributes and status; then flush them out."""
    tracer = provider.get_tracer("bench.report")
    for spec in specs:
        ids.spec = spec
        span = tracer.start_span(
            LLM_SPAN,
            kind=SpanKind.INTERNAL,
            attributes=span_attributes(spec, payload),
            start_time=spec.start_ns,
        )
        span.set_status(
            Status(StatusCode.ERROR, "fake upstream error") if spec.error else Status(StatusCode.OK)
        )
        span.end(end_time=spec.end_ns)
    if not provider.force_flush(timeout_millis=int(EXPORT_TIMEOUT_S * 1000) * 4):
        raise RuntimeError("the span export did not finish in time")


def stored_count(client: PhoenixClient, project: str) -> int:
    """`litellm_request` spans Phoenix has stored in `project`."""
    project_id = client.project_id(project)
    if project_id is None:
        return 0
    # A fresh time range: Phoenix's cached count lags writes, and a project deleted and made again
    # under the same name can reuse the row id the cache is keyed by (phoenix/cursors.py).
    query = """query($id: ID!, $f: String, $fresh: TimeRange) {
      node(id: $id) { ... on Project { recordCount(filterCondition: $f, timeRange: $fresh) } }
    }"""
    variables = {"id": project_id, "f": f"name == '{LLM_SPAN}'", "fresh": fresh_range()}
    data = client.graphql(query, variables)
    return int(data["node"]["recordCount"])


def wait_stored(client: PhoenixClient, project: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = stored_count(client, project)
    while count < expected and time.monotonic() < deadline:
        time.sleep(1.0)
        count = stored_count(client, project)
    return count


def load(client: PhoenixClient, specs: list[SpanSpec], project: str, payload_bytes: int) -> float:
    """Send every spec to `project`, checking Phoenix stored them all; return spans per second."""
    payload = json.dumps({"max_tokens": 32000, "system": "x" * payload_bytes}) if payload_bytes else ""
    ids = SpecIds()
    provider = tracer_provider(client.base_url, project, ids)
    started = time.monotonic()
    try:
        for start in range(0, len(specs), CHUNK):
            wait_stored(client, project, start - AHEAD, timeout=600)
            send(provider, ids, specs[start : start + CHUNK], payload)
            done = min(start + CHUNK, len(specs))
            if done % 5000 == 0 or done == len(specs):
                rate = done / max(time.monotonic() - started, 1e-9)
                print(f"  sent {done:,} spans ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    finally:
        provider.shutdown()
    stored = wait_stored(client, project, len(specs), timeout=1800)
    if stored != len(specs):
        raise RuntimeError(f"Phoenix stored {stored} of {len(specs)} spans")
    return len(specs) / (time.monotonic() - started)
