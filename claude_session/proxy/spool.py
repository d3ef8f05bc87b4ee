"""No span lost to a long Phoenix outage: failed export batches wait on disk, then are replayed.

`SpoolingSpanExporter` wraps LiteLLM's OTLP/HTTP span exporter (patch 0011). A batch the
exporter could not send after its retries is written to the spool directory (OTLP protobuf,
fsync, atomic rename); while the spool holds files, new batches go straight there, in order,
so the in-memory queue keeps draining during the outage. A replayer thread per process POSTs
the files oldest first to the same endpoint with the same headers and deletes each only
after Phoenix accepted it; one process replays at a time (a lock file), so each span is sent
once. Files left by a stopped proxy are replayed when it starts again. Past the size cap the
oldest files are deleted and their span count logged in one line.

`CountingBatchSpanProcessor` counts the spans the SDK drops when its queue is full
(OTEL_BSP_MAX_QUEUE_SIZE) and logs the count.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from claude_session.proxy.settings import proxy_settings
from claude_session.proxy.spool_files import file_name, spool_files

_log = logging.getLogger("LiteLLM")

REPLAY_TIMEOUT_S = 10.0
_MAX_BACKOFF_S = 8.0
_IDLE_POLL_S = 5.0  # files another worker spooled are picked up within this
_DROP_REPORT_S = 2.0
# Statuses that no retry will change: the batch is dropped (and counted) rather than block the spool.
_REFUSED = frozenset({400, 413, 415, 422})


class Sent(enum.Enum):
    OK = "ok"
    REFUSED = "refused"
    RETRY = "retry"


class SpanSpool:
    """The spool directory of one proxy (shared by its workers)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._seq = itertools.count()

    def is_empty(self) -> bool:
        return not spool_files(self.directory)

    def write(self, payload: bytes, spans: int) -> None:
        """One batch, durably: temporary file, fsync, atomic rename; then the cap is enforced."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = file_name(os.getpid(), next(self._seq), spans)
        temporary = self.directory / f".{name}.tmp"
        with open(temporary, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.directory / name)
        _fsync_dir(self.directory)
        self.enforce_cap()

    def enforce_cap(self) -> int:
        """Delete the oldest files until the spool fits its cap; returns (and logs) the spans dropped."""
        dropped = 0
        with self._lock(blocking=True):
            files = spool_files(self.directory)
            total = sum(f.size for f in files)
            for spooled in files:
                if total <= self.max_bytes:
                    break
                with contextlib.suppress(FileNotFoundError):
                    spooled.path.unlink()
                    dropped += spooled.spans
                total -= spooled.size
        if dropped:
            _log.warning(
                "claude-session: span spool %s over its cap of %.2f MB: dropped %d spans (the oldest)",
                self.directory,
                self.max_bytes / 2**20,
                dropped,
            )
        return dropped

    def replay(self, send: Callable[[bytes], Sent]) -> bool:
        """Send the spooled files oldest first, deleting each once sent; True when none is left.

        False when a send failed or another process is replaying (its lock is held)."""
        with self._lock(blocking=False) as locked:
            if not locked:
                return False
            for spooled in spool_files(self.directory):
                try:
                    payload = spooled.path.read_bytes()
                except FileNotFoundError:
                    continue
                outcome = send(payload)
                if outcome is Sent.RETRY:
                    return False
                spooled.path.unlink(missing_ok=True)
                if outcome is Sent.REFUSED:
                    _log.warning(
                        "claude-session: Phoenix refused spooled file %s: dropped %d spans",
                        spooled.path.name,
                        spooled.spans,
                    )
            return True

    @contextlib.contextmanager
    def _lock(self, blocking: bool) -> Iterator[bool]:
        """An exclusive lock across processes and threads (each call opens its own descriptor)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def http_sender(endpoint: str, headers: Mapping[str, str]) -> Callable[[bytes], Sent]:
    """POST a serialized batch to `endpoint` with `headers` (for an exporter without its own client)."""
    sent_headers = {**headers, "Content-Type": "application/x-protobuf"}

    def send(payload: bytes) -> Sent:
        try:
            response = httpx.post(endpoint, content=payload, headers=sent_headers, timeout=REPLAY_TIMEOUT_S)
        except httpx.HTTPError:
            return Sent.RETRY
        return _verdict(response.status_code)

    return send


def exporter_sender(
    exporter: SpanExporter, endpoint: str, headers: Mapping[str, str]
) -> Callable[[bytes], Sent]:
    """POST a serialized batch through the OTLP/HTTP exporter's own client: its endpoint,
    headers, compression and TLS settings (a private CA in OTEL_EXPORTER_OTLP_CERTIFICATE,
    a client certificate), so a replayed batch goes exactly where and how the live export went.
    One attempt, no backoff (the replayer tries again later). Reaches into the pinned
    OpenTelemetry exporter's client (`_client._submit`); without it, `http_sender`."""
    client = getattr(exporter, "_client", None)
    if client is None or not callable(getattr(client, "_submit", None)):
        return http_sender(endpoint, headers)

    def send(payload: bytes) -> Sent:
        try:
            result = client._submit(client._compress(payload), REPLAY_TIMEOUT_S)
        except Exception:  # the transport's own errors vary by transport
            return Sent.RETRY
        return Sent.RETRY if result.status_code is None else _verdict(int(result.status_code))

    return send


def _verdict(status: int) -> Sent:
    if 200 <= status < 300:
        return Sent.OK
    return Sent.REFUSED if status in _REFUSED else Sent.RETRY


class SpoolingSpanExporter(SpanExporter):
    """The real exporter while Phoenix answers; the spool (and its replayer) when it does not."""

    def __init__(self, exporter: SpanExporter, spool: SpanSpool, send: Callable[[bytes], Sent]) -> None:
        self._exporter = exporter
        self._spool = spool
        self._send = send
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._replayer: threading.Thread | None = None
        self._replayer_pid = 0
        self._start_lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.start_replayer()
        if self._spool.is_empty():
            result = self._exporter.export(spans)
            if result is SpanExportResult.SUCCESS:
                return result
        try:
            self._spool.write(encode_spans(spans).SerializeToString(), len(spans))
        except OSError as err:
            _log.error(
                "claude-session: could not spool %d spans: %s; dropped %d spans", len(spans), err, len(spans)
            )
            return SpanExportResult.FAILURE
        self._wake.set()
        return SpanExportResult.SUCCESS

    def start_replayer(self) -> None:
        """Start this process's replayer (again after a fork: threads do not survive one)."""
        with self._start_lock:
            if self._replayer is not None and self._replayer_pid == os.getpid():
                return
            self._replayer_pid = os.getpid()
            self._replayer = threading.Thread(
                target=self._replay_loop, name="claude-session-spool", daemon=True
            )
            self._replayer.start()

    def _replay_loop(self) -> None:
        backoff = 1.0
        while not self._stopped.is_set():
            if self._spool.is_empty():
                self._wake.wait(_IDLE_POLL_S)
                self._wake.clear()
                continue
            try:
                done = self._spool.replay(self._send)
            except OSError as err:
                _log.warning("claude-session: span spool replay: %s", err)
                done = False
            if done:
                backoff = 1.0
                continue
            self._stopped.wait(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def shutdown(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """BatchSpanProcessor that counts the spans its full queue drops and logs the count."""

    def __init__(self, span_exporter: SpanExporter) -> None:
        super().__init__(span_exporter)
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._report: threading.Timer | None = None

    def on_end(self, span: ReadableSpan) -> None:
        queue = getattr(self._batch_processor, "_queue", None)  # a deque(maxlen=OTEL_BSP_MAX_QUEUE_SIZE)
        sampled = span.context is not None and span.context.trace_flags.sampled
        if sampled and queue is not None and queue.maxlen is not None and len(queue) >= queue.maxlen:
            with self._dropped_lock:
                self._dropped += 1
                if self._report is None:
                    self._report = threading.Timer(_DROP_REPORT_S, self.report_drops)
                    self._report.daemon = True
                    self._report.start()
        super().on_end(span)

    def report_drops(self) -> int:
        with self._dropped_lock:
            dropped, self._dropped, self._report = self._dropped, 0, None
        if dropped:
            _log.warning(
                "claude-session: span queue full (OTEL_BSP_MAX_QUEUE_SIZE): dropped %d spans", dropped
            )
        return dropped

    def shutdown(self) -> None:
        super().shutdown()  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
        self.report_drops()


def span_processor(
    exporter: SpanExporter, endpoint: str, headers: Mapping[str, str], spool_dir: Path | None, max_bytes: int
) -> BatchSpanProcessor:
    """The span processor LiteLLM's OTLP/HTTP branch returns (patch 0011): drops counted, and
    failed batches spooled when the proxy has a spool directory."""
    if spool_dir is None:
        return CountingBatchSpanProcessor(exporter)
    send = exporter_sender(exporter, endpoint, headers)
    spooling = SpoolingSpanExporter(exporter, SpanSpool(spool_dir, max_bytes), send)
    spooling.start_replayer()  # files left by a previous run are sent now, not at the first export
    return CountingBatchSpanProcessor(spooling)


def litellm_span_processor(
    exporter: SpanExporter, endpoint: str, headers: Mapping[str, str]
) -> BatchSpanProcessor:
    """Patch 0011's entry: this proxy's spool settings (CLAUDE_SESSION_SPOOL_DIR, _MAX_MB)."""
    settings = proxy_settings()
    return span_processor(exporter, endpoint, headers, settings.spool_dir, settings.spool_max_bytes)
