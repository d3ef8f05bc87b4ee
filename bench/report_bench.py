"""Benchmark `claude-session report` against a real Phoenix holding months of traffic.

Loads N LLM spans (`litellm_request`, shaped like the patched proxy's) across M sessions
straight into Phoenix's OTLP/HTTP endpoint, once: the Phoenix working directory is kept
under bench/.data/ and reused by later runs. Then runs `claude-session report` as a
subprocess, end to end, a few times per variant, and prints the wall time next to the
report's own split between fetching from Phoenix and aggregating.

    .venv/bin/python bench/report_bench.py            # 50,000 spans, 500 sessions
    .venv/bin/python bench/report_bench.py --small    # 2,000 spans, 20 sessions (quick)
    .venv/bin/python bench/report_bench.py --compare-rest   # also time the REST span listing

Phoenix is started on free ports bound to 127.0.0.1 and stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from claude_session import pricing, procs, stack  # noqa: E402
from claude_session.phoenix_api import PhoenixClient  # noqa: E402
from claude_session.state import StatePaths  # noqa: E402

PROJECT = "report-bench"
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
    ttft_ms: float | None = None  # time to first token, when set (the proxy's spans lack it)

    @property
    def latency_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def synthetic_specs(
    spans: int, sessions: int, seed: int = 7, days: float = 90.0, end_ns: int | None = None
) -> list[SpanSpec]:
    """`spans` requests spread over `sessions` sessions in the last `days` days (deterministic per seed)."""
    rng = random.Random(seed)
    end = end_ns or time.time_ns()
    per_session = _split(spans, sessions, rng)
    specs: list[SpanSpec] = []
    for index, count in enumerate(per_session):
        kind, version = TYPES[index % len(TYPES)], VERSIONS[(index // len(TYPES)) % len(VERSIONS)]
        name = NAMES[index % len(NAMES)]
        model = rng.choice(("claude-sonnet-4-5",) * 6 + ("claude-haiku-4-5", "claude-opus-4-5"))
        started = end - int(rng.uniform(0.05, days) * 86_400e9)
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
            clock += latency + int(rng.uniform(2, 60) * 1e9)
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


def span_attributes(spec: SpanSpec, payload: str = "") -> dict[str, object]:
    attributes: dict[str, object] = {
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
        attributes["llm.time_to_first_token_ms"] = spec.ttft_ms
    if payload:
        attributes["llm.invocation_parameters"] = payload
    return attributes


def encode(specs: Sequence[SpanSpec], project: str, payload_bytes: int = 0) -> bytes:
    """An OTLP/HTTP protobuf export request for `specs`, routed to `project`."""
    from opentelemetry import trace as trace_api
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Status, StatusCode

    resource = Resource.create({"openinference.project.name": project, "service.name": "litellm"})
    payload = json.dumps({"max_tokens": 32000, "system": "x" * payload_bytes}) if payload_bytes else ""
    spans = []
    for spec in specs:
        context = trace_api.SpanContext(
            spec.trace_id, spec.span_id, is_remote=False, trace_flags=trace_api.TraceFlags(1)
        )
        status = Status(StatusCode.ERROR, "fake upstream error") if spec.error else Status(StatusCode.OK)
        spans.append(
            ReadableSpan(
                name=LLM_SPAN,
                context=context,
                resource=resource,
                attributes=span_attributes(spec, payload),  # type: ignore[arg-type]
                kind=trace_api.SpanKind.INTERNAL,
                status=status,
                start_time=spec.start_ns,
                end_time=spec.end_ns,
            )
        )
    return encode_spans(spans).SerializePartialToString()


def send(
    base_url: str, project: str, specs: Sequence[SpanSpec], batch: int = 500, payload_bytes: int = 0
) -> None:
    """POST `specs` to Phoenix's OTLP/HTTP endpoint in gzip'd batches, waiting out 503 (queue full)."""
    for start in range(0, len(specs), batch):
        body = gzip.compress(encode(specs[start : start + batch], project, payload_bytes), 1)
        _post_traces(base_url, body)


def _post_traces(base_url: str, body: bytes, attempts: int = 120) -> None:
    request = urllib.request.Request(
        base_url.rstrip("/") + "/v1/traces",
        data=body,
        method="POST",
        headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
    )
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=120) as resp:
                resp.read()
                return
        except urllib.error.HTTPError as err:
            if err.code != 503:
                raise
            time.sleep(2.0)  # Phoenix's span queue is full: let it write
    raise RuntimeError("Phoenix stayed at capacity; giving up")


def stored_count(client: PhoenixClient, project: str) -> int:
    project_id = client.project_id(project)
    if project_id is None:
        return 0
    query = """query($id: ID!, $f: String) {
      node(id: $id) { ... on Project { recordCount(filterCondition: $f) } }
    }"""
    data = client.graphql(query, {"id": project_id, "f": f"name == '{LLM_SPAN}'"})
    return int(data["node"]["recordCount"])


def wait_stored(client: PhoenixClient, project: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = stored_count(client, project)
    while count < expected and time.monotonic() < deadline:
        time.sleep(1.0)
        count = stored_count(client, project)
    return count


def load(client: PhoenixClient, specs: list[SpanSpec], project: str, payload_bytes: int) -> float:
    """Send every spec, keeping Phoenix's ingest queue short; return spans per second."""
    started = time.monotonic()
    batch = 1000
    for start in range(0, len(specs), batch):
        # Phoenix refuses spans beyond a 20,000-span queue; stay well under it.
        wait_stored(client, project, start - 4 * batch, timeout=600)
        send(client.base_url, project, specs[start : start + batch], batch=batch, payload_bytes=payload_bytes)
        done = start + batch
        if done % 5000 == 0 or done >= len(specs):
            rate = done / max(time.monotonic() - started, 1e-9)
            print(f"  sent {min(done, len(specs)):,} spans ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    stored = wait_stored(client, project, len(specs), timeout=1800)
    if stored != len(specs):
        raise RuntimeError(f"Phoenix stored {stored} of {len(specs)} spans")
    return len(specs) / (time.monotonic() - started)


@dataclass(frozen=True)
class Dataset:
    spans: int
    sessions: int
    seed: int
    payload_bytes: int
    layout: int = 2  # bump when synthetic_specs or span_attributes change


def ensure_loaded(state: StatePaths, settings: stack.StackSettings, dataset: Dataset) -> None:
    """Start Phoenix on the working directory; load the data set unless it is already there."""
    marker = state.root / "dataset.json"
    loaded = json.loads(marker.read_text()) if marker.exists() else None
    if loaded != asdict(dataset) and state.root.exists():
        print(f"building the data set in {state.root} (once)", file=sys.stderr)
        shutil.rmtree(state.root)
    state.ensure()
    stack.start_phoenix(settings, state)
    if loaded == asdict(dataset):
        return
    client = PhoenixClient(settings.phoenix_base, timeout=120)
    # As `claude-session up` does: Phoenix prices spans on arrival, from its own table.
    pricing.register_missing_prices(client)
    specs = synthetic_specs(dataset.spans, dataset.sessions, dataset.seed)
    print(f"loading {len(specs):,} spans in {dataset.sessions} sessions...", file=sys.stderr, flush=True)
    rate = load(client, specs, PROJECT, dataset.payload_bytes)
    print(f"loaded at {rate:,.0f} spans/s", file=sys.stderr)
    marker.write_text(json.dumps(asdict(dataset)) + "\n")


VARIANTS: dict[str, list[str]] = {
    "by prompt version": ["report"],
    "by version, baseline": ["report", "--baseline", "v1", "--chart", "/dev/null"],
    "by type, baseline": ["report", "--group-by", "type", "--baseline", "code-review"],
    "one type, by version": ["report", "--type", "debugging", "--baseline", "v1"],
    "last 7 days": ["report", "--since", "7d"],
    "session list": ["sessions", "--limit", "20"],
}


def run_report(base_url: str, args: list[str]) -> tuple[float, dict[str, float]]:
    """Run the CLI as a user would; return wall seconds and the report's own timing split."""
    argv = [sys.executable, "-m", "claude_session", *args, "--phoenix-url", base_url]
    argv += ["--project", PROJECT, "--format", "json"]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return wall, json.loads(done.stdout).get("timing", {})


def time_rest_listing(client: PhoenixClient, sample: int = 5_000) -> tuple[float, int]:
    """The alternative fetch: `litellm_request` spans with all their attributes, REST pages of 1000."""
    started = time.monotonic()
    count = 0
    for _ in client.spans(PROJECT, span_names=[LLM_SPAN]):
        count += 1
        if count >= sample:
            break
    return time.monotonic() - started, count


def bench(base_url: str, repeat: int) -> None:
    print(
        f"{'variant':22} {'wall s':>7} {'cold s':>7} {'fetch s':>8} {'aggr s':>7} "
        f"{'check s':>8} {'spans':>7} {'pages':>6}"
    )
    for label, args in VARIANTS.items():
        runs = [run_report(base_url, args) for _ in range(repeat)]
        timing = runs[0][1]

        def median(key: str, runs: list[tuple[float, dict[str, float]]] = runs) -> float:
            return statistics.median(r[1].get(key, 0.0) for r in runs)

        wall = statistics.median(r[0] for r in runs)
        spans, pages = int(timing.get("spans", 0)), int(timing.get("pages", 0))
        print(
            f"{label:22} {wall:7.2f} {runs[0][0]:7.2f} {median('fetch_s'):8.2f} {median('aggregate_s'):7.2f} "
            f"{median('phoenix_cost_s'):8.2f} {spans:7,} {pages:6}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="2,000 spans in 20 sessions")
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--payload-bytes", type=int, default=33_000, help="size of the prompt-like attribute on each span"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (the median is shown)")
    parser.add_argument("--workdir", type=Path, help="Phoenix working directory (default bench/.data/...)")
    parser.add_argument("--compare-rest", action="store_true", help="also time the REST span listing")
    parser.add_argument("--keep", action="store_true", help="leave Phoenix running (prints its URL)")
    args = parser.parse_args(argv)
    if args.small:
        args.spans, args.sessions = 2_000, 20
    dataset = Dataset(args.spans, args.sessions, args.seed, args.payload_bytes)
    name = "phoenix-report-small" if args.small else "phoenix-report"
    state = StatePaths(args.workdir or REPO / "bench" / ".data" / name)
    settings = stack.StackSettings(
        phoenix_port=procs.free_port(), phoenix_grpc_port=procs.free_port(), project=PROJECT
    )
    os.environ["PHOENIX_TELEMETRY_ENABLED"] = "false"
    try:
        ensure_loaded(state, settings, dataset)
        print(
            f"Phoenix {settings.phoenix_base}: {dataset.spans:,} LLM spans in {dataset.sessions} sessions, "
            f"{dataset.payload_bytes:,}-byte prompt attribute; `report` end to end, median of {args.repeat}",
            flush=True,
        )
        bench(settings.phoenix_base, args.repeat)
        if args.compare_rest:
            seconds, count = time_rest_listing(PhoenixClient(settings.phoenix_base, timeout=300))
            print(
                f"for comparison, REST GET /v1/projects/{{p}}/spans (every attribute): {count:,} spans in "
                f"{seconds:.2f} s, ~{seconds * dataset.spans / count:.0f} s for all {dataset.spans:,}"
            )
        if args.keep:
            print(f"Phoenix keeps running at {settings.phoenix_base} (pid file {state.pid_file('phoenix')})")
    finally:
        if not args.keep:
            procs.stop(state.pid_file("phoenix"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
