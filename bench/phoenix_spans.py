"""What reached Phoenix from each proxy: span counts, whether LLM spans carry sessions, ingest idle."""

from __future__ import annotations

import time
from typing import TypedDict

from bench.sampling import cpu_busy
from bench.services import Services
from claude_session.phoenix.client import PhoenixClient

LLM_SPAN = "litellm_request"
RAW_SPAN = "raw_gen_ai_request"


class SessionSample(TypedDict):
    sampled: int
    with_session_type: int


def span_counts(client: PhoenixClient, project: str) -> dict[str, int]:
    """Every span of `project`, and how many are `raw_gen_ai_request` copies."""
    project_id = client.project_id(project)
    if project_id is None:
        return {"total": 0}
    query = (
        "query($id: ID!, $raw: String!) { node(id: $id) { ... on Project {"
        " total: recordCount raw: recordCount(filterCondition: $raw) } } }"
    )
    node = client.graphql(query, {"id": project_id, "raw": f"name == '{RAW_SPAN}'"})["node"]
    return {"total": int(node["total"]), RAW_SPAN: int(node["raw"])}


def phoenix_db_bytes(services: Services) -> int:
    """Bytes of Phoenix's SQLite database in its working directory (with its WAL and journal files)."""
    return sum(path.stat().st_size for path in services.state.phoenix_dir.glob("*.db*") if path.is_file())


def phoenix_busy(services: Services) -> bool:
    """Whether Phoenix is still working (ingesting spans) over the next second."""
    pid = services.phoenix_pid
    return pid is not None and cpu_busy(pid)


def wait_phoenix_idle(services: Services, limit: float) -> None:
    """Let Phoenix finish ingesting the previous measurement's spans (it shares the CPUs)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and phoenix_busy(services):
        pass


def wait_spans_settled(services: Services, project: str, limit: float) -> dict[str, int] | None:
    """Wait until Phoenix has ingested what a proxy sent (count stable three times, Phoenix idle)."""
    client = PhoenixClient(services.phoenix_base)
    deadline = time.monotonic() + limit
    last: dict[str, int] | None = None
    stable = 0
    while time.monotonic() < deadline:
        counts = span_counts(client, project)
        busy = phoenix_busy(services)
        stable = stable + 1 if counts == last and not busy else 0
        last = counts
        if stable >= 3:
            return counts
        time.sleep(1.0)
    return last


def session_attributes_seen(services: Services, project: str, sample: int = 50) -> SessionSample:
    """A sample of LLM spans: how many carry session.type (stock never sets it)."""
    rows = PhoenixClient(services.phoenix_base).query_spans(
        project, {"name": "name", "type": "session.type"}, condition=f"name == '{LLM_SPAN}'", limit=sample
    )
    return SessionSample(sampled=len(rows), with_session_type=sum(1 for row in rows if row.get("type")))
