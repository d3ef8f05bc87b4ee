"""Synthetic span rows, shaped like `PhoenixClient.query_spans` returns them for the report's COLUMNS,
and a small, hand-computed data set the report unit tests share.

A row holds the selected columns: `session` (the whole `session` attribute object), `tokens`
(`llm.token_count`: prompt, which includes cache reads and writes, completion, prompt_details),
`cost`, `model`, `ttft`, `start`, `end` (Phoenix's nanosecond 'Z' timestamps), `latency`, `status`.
"""

from __future__ import annotations

from typing import Any

from claude_session.report.model import GroupStats


def row(
    session_id: str | None,
    *,
    kind: str | None = "code-review",
    version: str | None = "v1",
    name: str | None = None,
    usage: tuple[int, int, int, int] | None = (0, 0, 0, 0),  # uncached in, out, cache_read, cache_write
    cost: float | None = 0.0,
    latency: float | None = 100.0,
    ttft: float | None = None,
    status: str = "OK",
    start: str = "2026-11-24T13:00:00.000000000Z",
    end: str | None = None,
    model: str | None = "claude-a",
) -> dict[str, Any]:
    session = {
        key: value
        for key, value in (("id", session_id), ("type", kind), ("prompt_version", version), ("name", name))
        if value is not None
    }
    tokens = None
    if usage is not None:
        uncached, out, cache_read, cache_write = usage
        tokens = {
            "prompt": uncached + cache_read + cache_write,  # LiteLLM counts the cached parts in the prompt
            "completion": out,
            "prompt_details": {"cache_read": cache_read, "cache_write": cache_write},
        }
    return {
        "session": session,
        "tokens": tokens,
        "cost": cost,
        "model": model,
        "ttft": ttft,
        "start": start,
        "end": end or start,
        "latency": latency,
        "status": status,
    }


def error_row(session_id: str, **kwargs: Any) -> dict[str, Any]:
    """A request the upstream failed: no token counts, no cost."""
    return row(session_id, usage=None, cost=None, status="ERROR", model=None, **kwargs)


def ts(minute: int, second: int = 0, fraction: str = "000000000") -> str:
    """A Phoenix timestamp on 2026-11-24 at 13:mm:ss."""
    return f"2026-11-24T13:{minute:02d}:{second:02d}.{fraction}Z"


def dataset() -> list[dict[str, Any]]:
    """Twelve rows; the expected figures are worked out by hand in EXPECTED below.

    v1 (type code-review): s1 and s2 two requests each, s3 one; name 'auth' on s1 and s2.
    v2 (type chat): s4 three requests, s5 two (one failed); ttft on two requests.
    s6: code-review without a prompt version.
    """
    return [
        row(
            "s1",
            name="auth",
            usage=(100, 20, 30, 5),
            cost=0.010,
            latency=100,
            start=ts(0, 0, "105114000"),
            end=ts(0, 1),
        ),
        row(
            "s1",
            name="auth",
            usage=(50, 10, 0, 0),
            cost=0.002,
            latency=300,
            start=ts(1),
            end=ts(1, 30),
            model="claude-b",
        ),
        row("s2", name="auth", usage=(100, 20, 30, 5), cost=0.010, latency=200, start=ts(10), end=ts(10, 5)),
        row("s2", name="auth", usage=(50, 10, 0, 0), cost=0.002, latency=400, start=ts(12), end=ts(12, 20)),
        row("s3", usage=(60, 15, 400, 0), cost=0.005, latency=1000, start=ts(20), end=ts(21)),
        row(
            "s4",
            kind="chat",
            version="v2",
            name="bot",
            usage=(10, 5, 0, 0),
            cost=0.001,
            latency=50,
            ttft=30,
            start=ts(30),
            end=ts(30, 1),
        ),
        row(
            "s4",
            kind="chat",
            version="v2",
            name="bot",
            usage=(10, 5, 0, 0),
            cost=0.001,
            latency=150,
            ttft=10,
            start=ts(31),
            end=ts(31, 1),
        ),
        row(
            "s4",
            kind="chat",
            version="v2",
            name="bot",
            usage=(10, 5, 0, 0),
            cost=0.001,
            latency=250,
            start=ts(32),
            end=ts(32, 1),
        ),
        error_row("s5", kind="chat", version="v2", latency=20, start=ts(40), end=ts(40, 1)),
        row(
            "s5",
            kind="chat",
            version="v2",
            usage=(10, 5, 0, 0),
            cost=0.001,
            latency=350,
            start=ts(41),
            end=ts(41, 1),
        ),
        row("s6", version=None, usage=(7, 3, 0, 0), cost=0.0005, latency=70, start=ts(50), end=ts(50, 2)),
        row("s6", version=None, usage=(7, 3, 0, 0), cost=0.0005, latency=90, start=ts(51), end=ts(51, 2)),
    ]


# By hand from the rows above. Latency quantiles: linear interpolation between closest ranks,
# position (n - 1) * q in the sorted list.
EXPECTED: dict[str, dict[str, Any]] = {
    "v1": {
        "sessions": 3,
        "requests": 5,
        "errors": 0,
        "input_tokens": 100 + 50 + 100 + 50 + 60,  # 360
        "output_tokens": 20 + 10 + 20 + 10 + 15,  # 75
        "cache_read_tokens": 30 + 30 + 400,  # 460
        "cache_write_tokens": 5 + 5,  # 10
        "cost_usd": 0.029,
        "latency_p50_ms": 300.0,  # [100, 200, 300, 400, 1000]: the middle one
        "latency_p95_ms": 880.0,  # position 3.8: 400 + 0.8 * (1000 - 400)
        "ttft_p50_ms": None,
        "models": ["claude-a", "claude-b"],
        "start": "2026-11-24T13:00:00.105114Z",
        "end": "2026-11-24T13:21:00.000000Z",
    },
    "v2": {
        "sessions": 2,
        "requests": 5,
        "errors": 1,
        "input_tokens": 40,
        "output_tokens": 20,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.004,
        "latency_p50_ms": 150.0,  # [20, 50, 150, 250, 350]
        "latency_p95_ms": 330.0,  # position 3.8: 250 + 0.8 * (350 - 250)
        "ttft_p50_ms": 20.0,  # [10, 30]: halfway
        "models": ["claude-a"],
        "start": "2026-11-24T13:30:00.000000Z",
        "end": "2026-11-24T13:41:01.000000Z",
    },
    "(none)": {
        "sessions": 1,
        "requests": 2,
        "errors": 0,
        "input_tokens": 14,
        "output_tokens": 6,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.001,
        "latency_p50_ms": 80.0,  # [70, 90]
        "latency_p95_ms": 89.0,  # position 0.95: 70 + 0.95 * 20
        "ttft_p50_ms": None,
        "models": ["claude-a"],
        "start": "2026-11-24T13:50:00.000000Z",
        "end": "2026-11-24T13:51:02.000000Z",
    },
}


def group(key: str | None, **values: Any) -> GroupStats:
    """A GroupStats with zeros and Nones wherever `values` says nothing."""
    defaults: dict[str, Any] = {
        "sessions": 0,
        "requests": 0,
        "errors": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_usd": 0.0,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
        "ttft_p50_ms": None,
        "start": None,
        "end": None,
        "span_filter": f"name == 'litellm_request' and session.prompt_version == '{key}'",
        "root_filter": f"attributes['session']['prompt_version'] == '{key}'",
    }
    return GroupStats(key=key, **{**defaults, **values})
