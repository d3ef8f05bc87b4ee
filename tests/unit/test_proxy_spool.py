"""The span spool, in process: a fake exporter that fails then succeeds, a fake Phoenix sender."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from claude_session.proxy import spool
from claude_session.proxy.settings import ProxySettings
from claude_session.proxy.spool_files import spool_files, summary


class FakeExporter(SpanExporter):
    def __init__(self) -> None:
        self.up = False
        self.exported: list[str] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.up:
            return SpanExportResult.FAILURE
        self.exported += [span.name for span in spans]
        return SpanExportResult.SUCCESS


class FakePhoenix:
    def __init__(self) -> None:
        self.up = False
        self.received: list[str] = []

    def send(self, payload: bytes) -> spool.Sent:
        if not self.up:
            return spool.Sent.RETRY
        request = ExportTraceServiceRequest.FromString(payload)
        self.received += [s.name for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
        return spool.Sent.OK


def _spans(*names: str) -> list[ReadableSpan]:
    tracer = TracerProvider().get_tracer("test")
    made = []
    for name in names:
        span = tracer.start_span(name)
        span.end()
        made.append(span)
    return made  # type: ignore[return-value]  # ended SDK spans are ReadableSpans


def _exporter(
    directory: Path, phoenix: FakePhoenix, max_bytes: int = 2**20
) -> tuple[spool.SpoolingSpanExporter, FakeExporter]:
    real = FakeExporter()
    return spool.SpoolingSpanExporter(real, spool.SpanSpool(directory, max_bytes), phoenix.send), real


def _wait_empty(directory: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while spool_files(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not spool_files(directory)


def test_failed_batches_are_spooled_in_order_then_replayed_once(tmp_path: Path) -> None:
    phoenix = FakePhoenix()
    exporter, real = _exporter(tmp_path, phoenix)
    assert exporter.export(_spans("a1", "a2")) is SpanExportResult.SUCCESS  # saved on disk
    real.up = True  # the spool is not empty: later batches queue behind it, in order
    exporter.export(_spans("b1"))
    exporter.export(_spans("c1", "c2", "c3"))
    assert real.exported == []
    assert summary(tmp_path).files == 3 and summary(tmp_path).spans == 6
    phoenix.up = True
    _wait_empty(tmp_path)
    assert phoenix.received == ["a1", "a2", "b1", "c1", "c2", "c3"]
    exporter.export(_spans("d1"))  # the spool is empty again: straight to the exporter
    assert real.exported == ["d1"]
    exporter.shutdown()
    time.sleep(0.2)
    assert phoenix.received == ["a1", "a2", "b1", "c1", "c2", "c3"]  # nothing sent twice


def test_cap_drops_the_oldest_and_logs_the_exact_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    phoenix = FakePhoenix()
    one = len(encode_spans(_spans("x", "x")).SerializeToString())
    exporter, _ = _exporter(tmp_path, phoenix, max_bytes=3 * one + one // 2)  # room for 3 batches of 2
    with caplog.at_level(logging.WARNING, logger="LiteLLM"):
        for index in range(5):
            exporter.export(_spans(f"b{index}", f"b{index}"))
    assert summary(tmp_path).files == 3
    dropped = sum(int(n) for n in re.findall(r"dropped (\d+) spans \(the oldest\)", caplog.text))
    assert dropped == 4
    phoenix.up = True
    exporter.start_replayer()
    _wait_empty(tmp_path)
    assert phoenix.received == ["b2", "b2", "b3", "b3", "b4", "b4"]
    exporter.shutdown()


def test_files_left_by_a_stopped_proxy_are_replayed_at_start(tmp_path: Path) -> None:
    phoenix = FakePhoenix()
    before, _ = _exporter(tmp_path, phoenix)
    before.export(_spans("old1"))
    before.shutdown()  # the proxy stops with Phoenix still down
    phoenix.up = True
    after, _ = _exporter(tmp_path, phoenix)
    after.start_replayer()
    _wait_empty(tmp_path)
    assert phoenix.received == ["old1"]
    after.shutdown()


def test_one_replayer_at_a_time(tmp_path: Path) -> None:
    store = spool.SpanSpool(tmp_path, 2**20)
    store.write(b"x", 1)
    with store._lock(blocking=False) as first, store._lock(blocking=False) as second:
        assert first and not second
    sent: list[bytes] = []

    def send(payload: bytes) -> spool.Sent:
        sent.append(payload)
        return spool.Sent.OK

    assert store.replay(send)
    assert sent == [b"x"] and store.is_empty()


def test_queue_overflow_is_counted(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    blocked = FakeExporter()
    processor = spool.CountingBatchSpanProcessor(blocked)
    processor._batch_processor._export_lock.acquire()  # the worker cannot drain: the queue fills
    try:
        with caplog.at_level(logging.WARNING, logger="LiteLLM"):
            for span in _spans(*[f"s{i}" for i in range(10)]):
                processor.on_end(span)
            assert processor.report_drops() == 6
        assert "dropped 6 spans" in caplog.text
    finally:
        processor._batch_processor._export_lock.release()
        processor.shutdown()


def test_spool_settings_from_the_environment() -> None:
    settings = ProxySettings.from_environ(
        {"CLAUDE_SESSION_SPOOL_DIR": "/s", "CLAUDE_SESSION_SPOOL_MAX_MB": "0.5"}
    )
    assert settings.spool_dir == Path("/s") and settings.spool_max_bytes == 2**19
    assert ProxySettings.from_environ({}).spool_dir is None
    assert ProxySettings.from_environ({"CLAUDE_SESSION_SPOOL_MAX_MB": "-1"}).spool_max_bytes == 512 * 2**20
