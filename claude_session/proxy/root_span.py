"""What the request's root span (`litellm_proxy_request`) carries, and the time to first token.

Stock LiteLLM sets the same attributes on the root span as on its `litellm_request` child:
model, token counts, cost and the whole prompt. Phoenix prices every span that has a model
name and token counts, so its trace, session and project totals came out at twice the real
cost. The root now keeps only what the Traces and Sessions views need (patch 0008): the
session attributes their filters read, and a short input/output summary; the status is set
by LiteLLM. The LLM call itself stays described once, on the child.

`set_time_to_first_token` (patch 0009) records LiteLLM's first-chunk time on the child of a
streamed request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from openinference.semconv.trace import (
    OpenInferenceMimeTypeValues,
    OpenInferenceSpanKindValues,
    SpanAttributes,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

# Attributes copied from the child span as they are: the Traces/Sessions filters
# (`attributes['session'][...]`) evaluate them on the root span.
KEPT_PREFIXES: tuple[str, ...] = ("session.", "claude_code.")
INPUT_VALUE = SpanAttributes.INPUT_VALUE
OUTPUT_VALUE = SpanAttributes.OUTPUT_VALUE
INPUT_MIME_TYPE = SpanAttributes.INPUT_MIME_TYPE
OUTPUT_MIME_TYPE = SpanAttributes.OUTPUT_MIME_TYPE
SPAN_KIND = SpanAttributes.OPENINFERENCE_SPAN_KIND
# A proxy request wraps the LLM call: not an LLM span itself, so Phoenix neither prices it
# nor counts its tokens.
ROOT_SPAN_KIND = OpenInferenceSpanKindValues.CHAIN.value
TEXT_MIME_TYPE = OpenInferenceMimeTypeValues.TEXT.value
SUMMARY_CHARS = 300
ELLIPSIS = "…"

# Time to first token on a streamed `litellm_request` span, in milliseconds.
TTFT_ATTRIBUTE = "claude_session.ttft_ms"


def summary(value: object, limit: int = SUMMARY_CHARS) -> str:
    """`value` as text of at most `limit` characters (an ellipsis marks a cut)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


def root_attributes(child: Mapping[str, object], limit: int = SUMMARY_CHARS) -> dict[str, object]:
    """The root span's attributes, from the finished child span's."""
    kept: dict[str, object] = {SPAN_KIND: ROOT_SPAN_KIND}
    for key, value in child.items():
        if key.startswith(KEPT_PREFIXES):
            kept[key] = value
    for value_key, mime_key in ((INPUT_VALUE, INPUT_MIME_TYPE), (OUTPUT_VALUE, OUTPUT_MIME_TYPE)):
        value = child.get(value_key)
        if value is not None and value != "":
            kept[value_key] = summary(value, limit)
            kept[mime_key] = TEXT_MIME_TYPE  # a cut JSON document is no longer JSON
    return kept


def set_root_span_attributes(root: Span, child: Span) -> None:
    """Give `root` the session attributes and a short summary of `child` (already populated)."""
    attributes = getattr(child, "attributes", None)
    if not isinstance(attributes, Mapping):
        attributes = {}
    for key, value in root_attributes(attributes).items():
        root.set_attribute(key, value)  # type: ignore[arg-type]


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):
        value = timestamp()
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def time_to_first_token_ms(payload: Mapping[str, object] | None) -> float | None:
    """Milliseconds from the request's start to its first streamed chunk, from LiteLLM's
    standard logging payload; None unless the request streamed and the first chunk came
    strictly between start and end (LiteLLM sets it to the end time when no chunk was seen).
    """
    if not isinstance(payload, Mapping) or payload.get("stream") is not True:
        return None
    start = _seconds(payload.get("startTime"))
    first = _seconds(payload.get("completionStartTime"))
    end = _seconds(payload.get("endTime"))
    if start is None or first is None or end is None or not start < first < end:
        return None
    return round((first - start) * 1000.0, 3)


def set_time_to_first_token(span: Span, kwargs: Mapping[str, object]) -> None:
    """Set `claude_session.ttft_ms` on the `litellm_request` span of a streamed request."""
    payload = kwargs.get("standard_logging_object")
    ttft = time_to_first_token_ms(payload if isinstance(payload, Mapping) else None)
    if ttft is not None:
        span.set_attribute(TTFT_ATTRIBUTE, ttft)
