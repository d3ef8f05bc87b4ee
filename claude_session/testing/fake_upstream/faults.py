"""The fault a request asks for (``x-fake-fault`` or ``[[fault:...]]``), read into a plan, and the
headers Anthropic sends with an answer.

Grammar of a fault value:

* ``NNN`` (``400 401 403 404 413 429 500 529``): that error instead of an answer;
* ``NNNxK``: that error for the first K attempts of the conversation (the request's
  ``x-claude-code-session-id``), then normal answers: a client that retries succeeds on attempt K+1;
* ``stream-NNN``: a streamed reply starts (200, ``message_start``, ``ping``), then an SSE
  ``error`` event with that error, and the stream ends (a non-streamed request gets the plain error);
* ``timeout``, ``drop``, ``pause``: delivery faults (see the package docstring).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from claude_session.testing.fake_upstream.messages import ERROR_FAULTS, FLOW_FAULTS

_REPEATED: Final = re.compile(r"(\d{3})x(\d{1,3})")
IN_STREAM_PREFIX: Final = "stream-"
# What the fake's rate limit headers say: a generous, never-exhausted budget.
RATE_LIMIT_REQUESTS: Final = 4000
RATE_LIMIT_TOKENS: Final = 2_000_000
RETRY_AFTER_SECONDS: Final = "1"


class UnknownFault(ValueError):
    """A fault value outside the grammar."""


@dataclass(frozen=True)
class FaultPlan:
    kind: Literal["error", "in_stream", "flow"]
    name: str  # an ERROR_FAULTS key for "error" and "in_stream", a FLOW_FAULTS member for "flow"
    times: int | None = None  # "error" only: fail this many attempts of a conversation, then answer


def plan_fault(fault: str) -> FaultPlan:
    """The plan for a (lower-case, stripped) fault value; raises :class:`UnknownFault`."""
    if fault in ERROR_FAULTS:
        return FaultPlan("error", fault)
    if fault in FLOW_FAULTS:
        return FaultPlan("flow", fault)
    repeated = _REPEATED.fullmatch(fault)
    if repeated and repeated.group(1) in ERROR_FAULTS and int(repeated.group(2)) > 0:
        return FaultPlan("error", repeated.group(1), times=int(repeated.group(2)))
    if fault.startswith(IN_STREAM_PREFIX) and fault[len(IN_STREAM_PREFIX) :] in ERROR_FAULTS:
        return FaultPlan("in_stream", fault[len(IN_STREAM_PREFIX) :])
    raise UnknownFault(f"unknown fake fault {fault!r}")


def retryable(status: int) -> bool:
    """Whether Anthropic tells a client to retry this status (x-should-retry)."""
    return status in (408, 409, 429) or status >= 500


def answer_headers(request_id: str, status: int = 200) -> dict[str, str]:
    """The headers Anthropic sends with an answer of ``status``: the request id, the rate limit
    budget, and on a retryable error ``retry-after`` and ``x-should-retry``."""
    headers = {
        "request-id": request_id,
        "anthropic-ratelimit-requests-limit": str(RATE_LIMIT_REQUESTS),
        "anthropic-ratelimit-requests-remaining": str(RATE_LIMIT_REQUESTS - 1),
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:01Z",
        "anthropic-ratelimit-tokens-limit": str(RATE_LIMIT_TOKENS),
        "anthropic-ratelimit-tokens-remaining": str(RATE_LIMIT_TOKENS),
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:01Z",
    }
    if status >= 400:
        headers["x-should-retry"] = "true" if retryable(status) else "false"
        if retryable(status):
            headers["retry-after"] = RETRY_AFTER_SECONDS
    return headers
