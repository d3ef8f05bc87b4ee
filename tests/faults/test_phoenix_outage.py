"""Phoenix slow or down: requests go on at normal latency; spans arrive once Phoenix is back.

These tests stop and freeze Phoenix, so they run on a stack of their own (Phoenix, proxy,
fake upstream on free ports, own state directory), started through the project's stack code
with its shipped tuning (stack.proxy_env.PROXY_TUNING_ENV: export retried for up to 45 s) except a
smaller span queue, QUEUE_SPANS, so that the last test can overflow it quickly. Everything
is stopped by PID at the end, and a frozen Phoenix is always thawed.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from claude_session.session import launcher
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from claude_session.stack.proxy_env import PROXY_TUNING_ENV
from claude_session.stack.state import StatePaths
from tests import support
from tests.faults.helpers import median_ms, now_iso, span_count, wait_span_count
from tests.support import LLM_SPAN, Stack

QUEUE_SPANS = 400  # spans the proxy holds while Phoenix is away (shipped default: 2048)
EXPORT_BATCH = 100
OUTAGE_REQUESTS = 40  # 80 spans: well within the queue
OVERFLOW_REQUESTS = 300  # 600 spans: more than the queue holds
EXPORT_TIMEOUT_S = float(PROXY_TUNING_ENV["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"])


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    queue = {"OTEL_BSP_MAX_QUEUE_SIZE": str(QUEUE_SPANS), "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(EXPORT_BATCH)}
    with support.running_stack(tmp_path_factory.mktemp("outage-state"), "outage", extra_env=queue) as running:
        try:
            yield running
        finally:
            _thaw(running.state)


def _signal_phoenix(state: StatePaths, sig: signal.Signals) -> None:
    pid = procs.read_pid(state.pid_file("phoenix"))
    if pid is not None:
        os.killpg(pid, sig)  # procs.start gave it its own process group


def _thaw(state: StatePaths) -> None:
    try:
        _signal_phoenix(state, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _timed_requests(stack_: Stack, session: dict[str, str], count: int) -> list[float]:
    durations = []
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            started = time.monotonic()
            response = stack_.messages(session, stream=True, client=client)
            durations.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            assert "message_stop" in response.text
    return durations


def _session(name: str) -> dict[str, str]:
    return launcher.Session.new("outage", "v1", name).as_metadata()


def _of_session(session: dict[str, str], name: str | None = LLM_SPAN) -> str:
    """A Phoenix span filter: the spans of one session (of one name)."""
    condition = f"attributes['session']['id'] == '{session['session_id']}'"
    return f"name == '{name}' and {condition}" if name else condition


def _llm_spans(stack_: Stack, session: dict[str, str], since: str) -> int:
    return span_count(stack_, since, _of_session(session))


def _assert_normal_latency(baseline: list[float], measured: list[float]) -> None:
    print(
        f"\nmedian {median_ms(baseline):.1f} ms with Phoenix healthy, {median_ms(measured):.1f} ms without"
        f" (slowest {max(measured) * 1000:.0f} ms)"
    )
    # No request waits on the exporter: one that did would take the export's timeout (45 s,
    # OTEL_EXPORTER_OTLP_TRACES_TIMEOUT). The bound is far from both that and normal latency,
    # so a busy machine cannot break it; the latency figures themselves belong to bench/.
    assert max(measured) < EXPORT_TIMEOUT_S / 3, max(measured)


def test_phoenix_slow_adds_no_latency(own_stack: Stack) -> None:
    """Phoenix frozen (SIGSTOP): it accepts connections and answers only when thawed."""
    since = now_iso()
    baseline = _timed_requests(own_stack, _session("before slow"), 20)
    session = _session("phoenix slow")
    _signal_phoenix(own_stack.state, signal.SIGSTOP)
    try:
        _timed_requests(own_stack, session, 2)
        time.sleep(2.5)  # an export is now stuck waiting for Phoenix's answer
        measured = _timed_requests(own_stack, session, 20)
    finally:
        _thaw(own_stack.state)
    _assert_normal_latency(baseline, measured)
    assert wait_span_count(own_stack, since, _of_session(session), 22, 60) == 22


def test_phoenix_down_then_restarted_loses_no_span(own_stack: Stack) -> None:
    since = now_iso()
    baseline = _timed_requests(own_stack, _session("before outage"), 20)
    session = _session("phoenix down")
    down_at = time.monotonic()
    assert procs.stop(own_stack.state.pid_file("phoenix"))
    measured: list[float] = []
    for _ in range(4):  # spread over several export batches
        measured += _timed_requests(own_stack, session, OUTAGE_REQUESTS // 4)
        time.sleep(1.0)
    LocalStack(own_stack.settings, own_stack.state, own_stack.env).up()  # starts what is not running
    outage = time.monotonic() - down_at
    _assert_normal_latency(baseline, measured)
    # The export in flight retries with backoff (1, 2, 4, 8, 16 s): allow for the last step.
    # An outage longer than those 45 s (a busy machine restarting Phoenix slowly) loses
    # nothing either: the batch waits in the spool instead (tests/faults/test_spool.py).
    arrived = wait_span_count(own_stack, since, _of_session(session), OUTAGE_REQUESTS, 60)
    print(f"\nPhoenix was down {outage:.1f} s; {arrived} of {OUTAGE_REQUESTS} spans arrived")
    assert arrived == OUTAGE_REQUESTS, f"{arrived} of {OUTAGE_REQUESTS} spans made during the outage arrived"
    log = own_stack.state.log_file("proxy").read_text(errors="replace")
    assert "Transient error" in log and "retrying in" in log  # the outage itself is logged


def test_outage_longer_than_the_queue_logs_the_drops(own_stack: Stack) -> None:
    session = _session("queue overflow")
    log_file = own_stack.state.log_file("proxy")
    log_before = len(log_file.read_text(errors="replace"))
    assert procs.stop(own_stack.state.pid_file("phoenix"))
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(OVERFLOW_REQUESTS):
                assert own_stack.messages(session, client=client).status_code == 200
        deadline = time.monotonic() + 10
        new_log = ""
        while time.monotonic() < deadline and "queue full" not in new_log.lower():
            time.sleep(0.5)
            new_log = log_file.read_text(errors="replace")[log_before:]
        # The OpenTelemetry SDK says so (once per 20 s per process), without a count.
        assert re.search(r"Queue full, dropping span", new_log, re.IGNORECASE), new_log[-2000:]
    finally:
        LocalStack(own_stack.settings, own_stack.state, own_stack.env).up()  # starts what is not running


def test_dropped_span_count_is_logged(own_stack: Stack) -> None:
    """Patch 0011 counts the spans a full queue drops (the SDK's own line has no count)."""
    log = own_stack.state.log_file("proxy").read_text(errors="replace")
    assert re.search(r"span queue full \(OTEL_BSP_MAX_QUEUE_SIZE\): dropped \d+ spans?", log)


def test_a_fresh_session_is_traced_after_the_outages(own_stack: Stack) -> None:
    session = _session("after outages")
    since = now_iso()
    _timed_requests(own_stack, session, 3)
    assert wait_span_count(own_stack, since, _of_session(session, None), 6, 60) >= 6
    assert _llm_spans(own_stack, session, since) == 3
