"""report_bench's data set: months of `litellm_request` spans shaped like the patched proxy's.

Deterministic per seed: sessions of each type and prompt version, token counts with cache
reads and writes, LiteLLM's cost for them, 2 % errors.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from claude_session.proxy.root_span import TTFT_ATTRIBUTE

LLM_SPAN = "litellm_request"
TYPES = ("code-review", "debugging", "documentation", "testing", "refactoring")
VERSIONS = ("v1", "v2", "v3")
NAMES = ("auth module", "billing", "api-gateway", "ui/forms", None)
# USD per million tokens: input, output, cache read, cache write (LiteLLM's Anthropic prices).
MODELS = {
    "claude-sonnet-4-5": (3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": (1.0, 5.0, 0.10, 1.25),
    "claude-opus-4-5": (5.0, 25.0, 0.50, 6.25),
}
AttributeValue = str | bool | int | float


@dataclass(frozen=True)
class Dataset:
    """What is loaded; recorded next to Phoenix's database so that a changed set is rebuilt."""

    spans: int
    sessions: int
    seed: int
    payload_bytes: int
    layout: int = 3  # bump when synthetic_specs, span_attributes or the annotations change


@dataclass(frozen=True)
class SpanSpec:
    """One `litellm_request` span as the patched proxy writes it (the fields the report reads)."""

    trace_id: int
    span_id: int
    session_id: str
    session_type: str
    prompt_version: str
    session_name: str | None
    start_ns: int
    end_ns: int
    model: str
    input_tokens: int  # uncached input; the span's prompt count adds cache read and write
    output_tokens: int
    cache_read: int
    cache_write: int
    cost: float
    error: bool
    ttft_ms: float | None = None  # time to first token, on streamed requests (patch 0009)

    @property
    def latency_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def synthetic_specs(
    spans: int,
    sessions: int,
    seed: int = 7,
    days: float = 90.0,
    end_ns: int | None = None,
    min_days: float = 0.05,
    think_s: tuple[float, float] = (2.0, 60.0),
) -> list[SpanSpec]:
    """`spans` requests spread over `sessions` sessions that started between `days` and `min_days`
    days before the end, `think_s` seconds between a session's requests (deterministic per seed)."""
    rng = random.Random(seed)
    end = end_ns or time.time_ns()
    per_session = _split(spans, sessions, rng)
    specs: list[SpanSpec] = []
    for index, count in enumerate(per_session):
        kind, version = TYPES[index % len(TYPES)], VERSIONS[(index // len(TYPES)) % len(VERSIONS)]
        name = NAMES[index % len(NAMES)]
        model = rng.choice(("claude-sonnet-4-5",) * 6 + ("claude-haiku-4-5", "claude-opus-4-5"))
        started = end - int(rng.uniform(min_days, days) * 86_400e9)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started / 1e9))
        session_id = f"{kind}-{stamp}-{index:06x}"
        cheaper = 0.75 if version == "v2" else 1.0
        clock = started
        for _ in range(count):
            latency = int(rng.lognormvariate(8.0, 0.6) * 1e6)  # ~3 s median, in ns
            error = rng.random() < 0.02
            tokens = (
                (0, 0, 0, 0)
                if error
                else (
                    int(rng.uniform(5, 2_000) * cheaper),
                    int(rng.uniform(50, 2_000) * cheaper),
                    int(rng.uniform(5_000, 80_000) * cheaper),
                    int(rng.uniform(0, 4_000)),
                )
            )
            specs.append(
                SpanSpec(
                    trace_id=rng.getrandbits(128) or 1,
                    span_id=rng.getrandbits(64) or 1,
                    session_id=session_id,
                    session_type=kind,
                    prompt_version=version,
                    session_name=name,
                    start_ns=clock,
                    end_ns=clock + latency,
                    model=model,
                    input_tokens=tokens[0],
                    output_tokens=tokens[1],
                    cache_read=tokens[2],
                    cache_write=tokens[3],
                    cost=_cost(model, *tokens),
                    error=error,
                )
            )
            clock += latency + int(rng.uniform(*think_s) * 1e9)
    return specs


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    weights = [rng.uniform(0.2, 1.8) for _ in range(parts)]
    scale = total / sum(weights)
    counts = [max(1, int(w * scale)) for w in weights]
    counts[-1] += total - sum(counts)
    if counts[-1] < 1:
        raise ValueError("too many sessions for so few spans")
    return counts


def _cost(model: str, inp: int, out: int, cache_read: int, cache_write: int) -> float:
    rates = MODELS[model]
    return round((inp * rates[0] + out * rates[1] + cache_read * rates[2] + cache_write * rates[3]) / 1e6, 10)


def span_attributes(spec: SpanSpec, payload: str = "") -> dict[str, AttributeValue]:
    """The span's attributes as the patched proxy sets them; `payload` stands in for the prompt."""
    attributes: dict[str, AttributeValue] = {
        "openinference.span.kind": "LLM",
        "session.id": spec.session_id,
        "session.type": spec.session_type,
        "session.prompt_version": spec.prompt_version,
        "llm.model_name": spec.model,
        "llm.provider": "",
        "llm.cost.total": spec.cost,
        "llm.request.type": "anthropic_messages",
        "llm.is_streaming": "True",
    }
    if spec.session_name:
        attributes["session.name"] = spec.session_name
    if not spec.error:
        prompt = spec.input_tokens + spec.cache_read + spec.cache_write
        attributes.update(
            {
                "llm.token_count.prompt": prompt,
                "llm.token_count.completion": spec.output_tokens,
                "llm.token_count.total": prompt + spec.output_tokens,
                "llm.token_count.prompt_details.cache_read": spec.cache_read,
                "llm.token_count.prompt_details.cache_write": spec.cache_write,
            }
        )
    if spec.ttft_ms is not None:
        attributes[TTFT_ATTRIBUTE] = spec.ttft_ms
    if payload:
        attributes["llm.invocation_parameters"] = payload
    return attributes
