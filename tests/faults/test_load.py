"""Load: 200 concurrent sessions through one proxy; every span carries exactly its own session.

CLAUDE_SESSION_LOAD_REQUESTS sets the total (default 1,000 so that CI stays within its
time; the issue's 10,000 was run by hand, see bench/README.md "## proxy overhead").
Every span is read back from Phoenix: zero mixed (a span with another session's
attributes), zero missing (a request without its LLM span, a span without a session).
The proxy's memory at the end must stay within RSS_GROWTH_LIMIT_MB of its memory after
warm-up (the whole process tree: all workers).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter

import httpx

from claude_session.core import fields
from tests.faults.helpers import now_iso, pid_of, session_rows, tree_rss_mb, wait_span_count
from tests.support import LLM_SPAN, MODEL, Stack

SESSIONS = 200
TOTAL = int(os.environ.get("CLAUDE_SESSION_LOAD_REQUESTS", "1000"))
RSS_GROWTH_LIMIT_MB = 200.0  # stated bound: whole proxy tree, end vs after warm-up


def _sessions(run: str) -> list[dict[str, str]]:
    types = ("code-review", "debugging", "documentation", "testing", "refactoring")
    return [
        {
            "session_id": f"load-{run}-{i:03d}",
            "session_type": types[i % len(types)],
            "prompt_version": f"v{i % 7}",
            "session_name": f"load {i}",
            "conversation": str(uuid.uuid4()),
        }
        for i in range(SESSIONS)
    ]


async def _drive(stack: Stack, sessions: list[dict[str, str]], per_session: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends, as clients should.
    limits = httpx.Limits(max_connections=SESSIONS, max_keepalive_connections=SESSIONS, keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one_session(index: int, session: dict[str, str]) -> None:
            headers = {
                **stack.auth(),
                "content-type": "application/json",
                "anthropic-version": "2023-06-01",
                fields.CLAUDE_CODE_HEADER: session["conversation"],
                **fields.to_headers({k: v for k, v in session.items() if k != "conversation"}),
            }
            for n in range(per_session):
                stream = (index + n) % 2 == 0
                body = {
                    "model": MODEL,
                    "max_tokens": 32,
                    "stream": stream,
                    "messages": [{"role": "user", "content": f"{session['session_id']} request {n}"}],
                }
                try:
                    response = await client.post(
                        stack.proxy_url + "/v1/messages?beta=true", headers=headers, json=body
                    )
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1
                    continue
                complete = response.status_code == 200 and (not stream or "message_stop" in response.text)
                outcomes["ok" if complete else f"status {response.status_code}"] += 1

        await asyncio.gather(*(one_session(i, s) for i, s in enumerate(sessions)))
    return outcomes


def test_200_concurrent_sessions_spans_never_mix_and_memory_stays_bounded(live_stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    proxy_pid = pid_of(live_stack, "proxy")
    # Warm-up: every worker has served requests, imported what it lazily imports.
    warm = asyncio.run(_drive(live_stack, _sessions(run + "w")[:50], 4))
    assert warm == {"ok": 200}, warm
    rss_warm = tree_rss_mb(proxy_pid)

    sessions = _sessions(run)
    per_session = max(1, TOTAL // SESSIONS)
    start = now_iso()  # spans of the warm-up started before this
    started = time.monotonic()
    outcomes = asyncio.run(_drive(live_stack, sessions, per_session))
    elapsed = time.monotonic() - started
    total = per_session * SESSIONS
    print(f"\n{total} requests from {SESSIONS} sessions in {elapsed:.1f} s ({total / elapsed:.0f} req/s)")
    assert outcomes == {"ok": total}, outcomes

    # Every LLM span of the run (Phoenix ingests in the background: wait for all of them).
    seen = wait_span_count(live_stack, start, f"name == '{LLM_SPAN}'", total, timeout=60 + total / 20)
    assert seen >= total, f"Phoenix has {seen} of {total} LLM spans"
    rows = session_rows(live_stack, start)
    expected = {s["session_id"]: s for s in sessions}
    mixed, foreign, llm_ok, failed_attempts = [], [], Counter(), Counter()
    for row in rows:
        session = expected.get(row["id"] or "")
        if session is None:
            foreign.append(row)
            continue
        got = (row["type"], row["version"], row["label"], row["conversation"])
        want = (
            session["session_type"],
            session["prompt_version"],
            session["session_name"],
            session["conversation"],
        )
        if got != want:
            mixed.append((row["id"], got, want))
        if row["span"] == LLM_SPAN:
            # A failed upstream attempt that LiteLLM retried leaves an ERROR span of its own.
            (llm_ok if row["status"] != "ERROR" else failed_attempts)[row["id"]] += 1
    missing = {sid: per_session - llm_ok[sid] for sid in expected if llm_ok[sid] != per_session}
    if failed_attempts:
        sid = next(iter(failed_attempts))
        errors = [
            event["attributes"].get("exception.message", "")[:160]
            for span in live_stack.phoenix.spans(live_stack.project, {"session.id": sid})
            for event in span.get("events", [])
            if span["name"] == LLM_SPAN and event["name"] == "exception"
        ]
        print(f"retried upstream attempts (ERROR spans): {sum(failed_attempts.values())}; {errors[:1]}")
    print(f"{len(rows)} spans read back: {len(mixed)} mixed, {len(missing)} sessions with missing spans")
    assert not mixed, mixed[:5]
    assert not missing, list(missing.items())[:5]
    # Spans of this window without a session (or with a session nobody sent) would be lost data.
    assert not foreign, foreign[:5]

    rss_end = tree_rss_mb(proxy_pid)
    print(f"proxy RSS after warm-up {rss_warm:.0f} MB, at the end {rss_end:.0f} MB")
    assert rss_end <= rss_warm + RSS_GROWTH_LIMIT_MB, (rss_warm, rss_end)
