"""A Phoenix outage longer than the export retries: spans wait in the spool on disk, survive a
proxy restart, and arrive once each when Phoenix is back; past the spool's cap the drops are
logged with their exact count.

Its own stack (Phoenix, proxy, fake upstream on free ports, own state directory), stopped by PID.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from claude_session.proxy.spool_files import summary
from claude_session.session import launcher
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from tests import support
from tests.faults.helpers import now_iso, span_count, wait_span_count
from tests.support import LLM_SPAN, Stack

REQUESTS = 200  # half before the proxy restart, half after
# An export gives up after this (the shipped 45 s, shortened so the outage needs not be long):
# the spool takes over from there.
EXPORT_TIMEOUT_S = "3"
OUTAGE_S = 30  # ten times the export's retries
SPANS_PER_REQUEST = 2  # litellm_proxy_request and litellm_request
CAP_REQUESTS = 60
CAP_MB = "0.02"  # a few batches: most of CAP_REQUESTS' spans are dropped
CAP_BATCH = 8  # spans per export batch in the cap test (a batch is ~1-2 KB a span)
_DROPPED = re.compile(r"dropped (\d+) spans \(the oldest\)")


@pytest.fixture(scope="module")
def spool_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra_env = {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": EXPORT_TIMEOUT_S}
    with support.running_stack(tmp_path_factory.mktemp("spool-state"), "spool", extra_env) as running:
        yield running


def _send(stack_: Stack, session: dict[str, str], count: int) -> None:
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            assert stack_.messages(session, client=client).status_code == 200


def _wait_spooled(stack_: Stack, spans: int, timeout: float) -> int:
    """Wait until the spool holds `spans` spans (a failed export retries for EXPORT_TIMEOUT_S first)."""
    deadline = time.monotonic() + timeout
    while (held := summary(stack_.state.spool).spans) < spans and time.monotonic() < deadline:
        time.sleep(0.5)
    return held


def _logged_drops(stack_: Stack) -> int:
    log = stack_.state.log_file("proxy").read_text(errors="replace")
    return sum(int(count) for count in _DROPPED.findall(log))


def test_long_outage_and_a_restart_lose_no_span(spool_stack: Stack) -> None:
    session = launcher.Session.new("spool", "v1", "long-outage").as_metadata()
    since = now_iso()
    local = LocalStack(spool_stack.settings, spool_stack.state, spool_stack.env)
    down_at = time.monotonic()
    assert procs.stop(spool_stack.state.pid_file("phoenix"))
    try:
        _send(spool_stack, session, REQUESTS // 2)
        half = REQUESTS // 2 * SPANS_PER_REQUEST
        assert _wait_spooled(spool_stack, half, 90) >= half
        local.restart_proxy()  # the spooled files stay on disk; the new process appends to them
        _send(spool_stack, session, REQUESTS - REQUESTS // 2)
        everything = REQUESTS * SPANS_PER_REQUEST
        assert _wait_spooled(spool_stack, everything, 30) >= everything
        time.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))
    finally:
        local.start_phoenix()
    condition = f"name == '{LLM_SPAN}' and attributes['session']['id'] == '{session['session_id']}'"
    assert wait_span_count(spool_stack, since, condition, REQUESTS, 180) == REQUESTS
    span_ids = [
        span["context"]["span_id"]
        for span in spool_stack.phoenix.spans(
            spool_stack.project, {"session.id": session["session_id"]}, span_names=[LLM_SPAN]
        )
    ]
    assert len(span_ids) == REQUESTS and len(set(span_ids)) == REQUESTS
    assert summary(spool_stack.state.spool).files == 0  # each file deleted once Phoenix took it
    assert _logged_drops(spool_stack) == 0


def test_past_the_cap_the_logged_drops_are_the_missing_spans(spool_stack: Stack) -> None:
    session = launcher.Session.new("spool", "v1", "over-cap").as_metadata()
    since = now_iso()
    before = _logged_drops(spool_stack)
    # A low cap, and one quick export attempt before a batch is spooled.
    env = {
        **spool_stack.env,
        "CLAUDE_SESSION_SPOOL_MAX_MB": CAP_MB,
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1",
        # Small batches whatever the machine's pace, so the cap holds some and drops others.
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(CAP_BATCH),
    }
    local = LocalStack(spool_stack.settings, spool_stack.state, env)
    assert procs.stop(spool_stack.state.pid_file("phoenix"))
    try:
        local.restart_proxy()
        _send(spool_stack, session, CAP_REQUESTS)
        made = CAP_REQUESTS * SPANS_PER_REQUEST
        deadline = time.monotonic() + 60
        while summary(spool_stack.state.spool).spans + _logged_drops(spool_stack) - before < made:
            assert time.monotonic() < deadline, "the proxy did not spool or drop every span"
            time.sleep(0.5)
    finally:
        local.start_phoenix()
    dropped = _logged_drops(spool_stack) - before
    assert 0 < dropped < made
    condition = f"attributes['session']['id'] == '{session['session_id']}'"
    arrived = wait_span_count(spool_stack, since, condition, made - dropped, 120)
    time.sleep(3)  # nothing more arrives than what the spool held
    arrived = span_count(spool_stack, since, condition)
    print(f"\n{dropped} spans dropped past the cap, {arrived} of {made} arrived")
    assert made - arrived == dropped
