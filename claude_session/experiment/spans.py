"""A run's cost and upstream errors, read back from its spans in Phoenix with the report's own
fetch and aggregation (so the runner, the budget and `report` count money the same way)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from claude_session.phoenix.client import PhoenixClient
from claude_session.report import attribution
from claude_session.report.fetch import Selection, aggregate, fetch_pages
from claude_session.report.model import GroupStats

SPAN_WAIT_S = 30.0  # spans reach Phoenix ~1 s after each request (the proxy's export interval)
POLL_S = 0.2  # a run waits for its spans: poll often (each look is two small queries)
NOTHING_EXPECTED_WAIT_S = 3.0


@dataclass(frozen=True)
class RunSpans:
    requests: int
    errors: int  # requests whose span is an error (an upstream 429/5xx/529, a dropped stream)
    cost_usd: float
    cost_main_usd: float
    cost_subagent_usd: float
    cost_rest_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    complete: bool  # every output token Claude Code counted is on a span

    @classmethod
    def of(cls, group: GroupStats | None, complete: bool) -> RunSpans:
        if group is None:
            return cls(0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0, complete)
        breakdown = group.cost_breakdown
        return cls(
            requests=group.requests,
            errors=group.errors,
            cost_usd=group.cost_usd,
            cost_main_usd=breakdown.get(attribution.MAIN, 0.0),
            cost_subagent_usd=sum(
                v for k, v in breakdown.items() if k.startswith(attribution.SUBAGENT_PREFIX)
            ),
            cost_rest_usd=breakdown.get(attribution.REST, 0.0),
            input_tokens=group.input_tokens,
            output_tokens=group.output_tokens,
            cache_read_tokens=group.cache_read_tokens,
            cache_write_tokens=group.cache_write_tokens,
            complete=complete,
        )


def session_group(client: PhoenixClient, project: str, session_id: str) -> GroupStats | None:
    project_id = client.project_id(project)
    if project_id is None:
        return None
    selection = Selection({"session": session_id})
    groups = aggregate(fetch_pages(client, project, project_id, selection), selection, "session").groups
    return groups[0] if groups else None


def read_run_spans(
    client: PhoenixClient,
    project: str,
    session_id: str,
    expected_output_tokens: int,
    wait_s: float = SPAN_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> RunSpans:
    """The session's figures once its spans carry all `expected_output_tokens` (Claude Code's own
    count); after `wait_s`, whatever arrived (`complete` False). With nothing expected (Claude
    Code stopped before any answer) one short wait catches the error spans of failed requests."""
    deadline = time.monotonic() + (
        wait_s if expected_output_tokens > 0 else min(wait_s, NOTHING_EXPECTED_WAIT_S)
    )
    while True:
        group = session_group(client, project, session_id)
        arrived = group.output_tokens if group else 0
        if expected_output_tokens > 0 and arrived >= expected_output_tokens:
            return RunSpans.of(group, complete=True)
        if time.monotonic() >= deadline:
            return RunSpans.of(
                group, complete=expected_output_tokens == 0 or arrived >= expected_output_tokens
            )
        sleep(POLL_S)
