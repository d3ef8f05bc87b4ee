"""The root span keeps the session and a short summary; TTFT on streamed spans (real SDK spans)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, set_span_in_context

from claude_session.proxy import root_span
from claude_session.proxy.root_span import (
    SUMMARY_CHARS,
    TTFT_ATTRIBUTE,
    set_root_span_attributes,
    set_time_to_first_token,
    time_to_first_token_ms,
)

LONG_PROMPT = "Review the authentication module. " * 200
CHILD_ATTRIBUTES: dict[str, Any] = {
    "openinference.span.kind": "LLM",
    "session.id": "code-review-20251101-143022-a3f2b1",
    "session.type": "code-review",
    "session.prompt_version": "v2",
    "session.name": "auth",
    "claude_code.session_id": "0b0c5f0e-1111",
    "llm.model_name": "claude-sonnet-4-5",
    "llm.provider": "anthropic",
    "llm.token_count.prompt": 168,
    "llm.token_count.completion": 30,
    "llm.token_count.total": 198,
    "llm.token_count.prompt_details.cache_read": 40,
    "llm.token_count.prompt_details.cache_write": 8,
    "llm.cost.total": 0.0123,
    "llm.response.cost": 0.0123,
    "llm.input_messages.0.message.role": "user",
    "llm.input_messages.0.message.content": LONG_PROMPT,
    "llm.output_messages.0.message.content": "Looks fine.",
    "llm.invocation_parameters": '{"max_tokens": 64}',
    "input.value": LONG_PROMPT,
    "input.mime_type": "application/json",
    "output.value": "Looks fine.",
    "metadata": '{"headers": {}}',
}


def _request(
    provider: TracerProvider, exporter: InMemorySpanExporter, *, success: bool = True
) -> dict[str, ReadableSpan]:
    """What the patched Phoenix logger does: populate the child, end it, then the root."""
    exporter.clear()
    tracer = provider.get_tracer("tests.proxy_root_span")
    root = tracer.start_span("litellm_proxy_request")
    status = Status(StatusCode.OK if success else StatusCode.ERROR)
    child = tracer.start_span("litellm_request", context=set_span_in_context(root))
    child.set_status(status)
    child.set_attributes(CHILD_ATTRIBUTES)
    child.end()
    root.set_status(status)
    set_root_span_attributes(root, child)
    root.end()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    exporter.clear()
    return spans


def test_root_keeps_session_and_a_short_summary_but_no_llm_call(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    spans = _request(provider, exporter)
    root = dict(spans["litellm_proxy_request"].attributes or {})
    assert {k: v for k, v in root.items() if k.startswith(("session.", "claude_code."))} == {
        k: v for k, v in CHILD_ATTRIBUTES.items() if k.startswith(("session.", "claude_code."))
    }
    assert not [k for k in root if k.startswith("llm.")], root
    assert root["openinference.span.kind"] == "CHAIN"
    assert len(root["input.value"]) == SUMMARY_CHARS
    assert root["input.value"].startswith("Review the authentication module.")
    assert root["input.value"].endswith("…")
    assert root["input.mime_type"] == root["output.mime_type"] == "text/plain"
    assert root["output.value"] == "Looks fine."
    assert "metadata" not in root
    assert spans["litellm_proxy_request"].status.status_code is StatusCode.OK
    # The child still describes the LLM call in full.
    assert dict(spans["litellm_request"].attributes or {}) == CHILD_ATTRIBUTES


def test_root_keeps_the_error_status(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    spans = _request(provider, exporter, success=False)
    assert spans["litellm_proxy_request"].status.status_code is StatusCode.ERROR
    assert "llm.token_count.total" not in (spans["litellm_proxy_request"].attributes or {})


def test_root_attributes_without_input_or_output() -> None:
    kept = root_span.root_attributes({"session.id": "s-1", "llm.model_name": "m", "input.value": ""})
    assert kept == {"openinference.span.kind": "CHAIN", "session.id": "s-1"}


def test_summary_cuts_long_text_only() -> None:
    assert root_span.summary("short") == "short"
    assert root_span.summary("x" * 10, limit=5) == "xxxx…"
    assert root_span.summary(["a", 1]) == "['a', 1]"


def _payload(stream: object, start: float, first: object, end: float) -> dict[str, object]:
    return {"stream": stream, "startTime": start, "completionStartTime": first, "endTime": end}


def test_ttft_for_a_streamed_request() -> None:
    assert time_to_first_token_ms(_payload(True, 100.0, 100.25, 101.0)) == 250.0
    moment = datetime.fromtimestamp(100.5)
    assert time_to_first_token_ms(_payload(True, 100.0, moment, 101.0)) == pytest.approx(500.0, abs=1.0)


@pytest.mark.parametrize(
    "payload",
    [
        _payload(None, 100.0, 101.0, 101.0),  # not streamed: LiteLLM sets it to the end time
        _payload(False, 100.0, 100.25, 101.0),
        _payload(True, 100.0, 101.0, 101.0),  # no chunk seen: filled with the end time
        _payload(True, 100.0, 99.0, 101.0),  # from an earlier attempt
        _payload(True, 100.0, None, 101.0),
        _payload(True, 100.0, "soon", 101.0),
        None,
    ],
)
def test_no_ttft_when_not_meaningful(payload: dict[str, object] | None) -> None:
    assert time_to_first_token_ms(payload) is None


def test_ttft_attribute_on_the_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    tracer = provider.get_tracer("tests.proxy_root_span")
    with tracer.start_as_current_span("litellm_request") as streamed:
        set_time_to_first_token(streamed, {"standard_logging_object": _payload(True, 10.0, 10.125, 11.0)})
    with tracer.start_as_current_span("litellm_request") as whole:
        set_time_to_first_token(whole, {"standard_logging_object": _payload(None, 10.0, 11.0, 11.0)})
    first, second = exporter.get_finished_spans()
    exporter.clear()
    assert (first.attributes or {})[TTFT_ATTRIBUTE] == 125.0
    assert TTFT_ATTRIBUTE not in (second.attributes or {})
