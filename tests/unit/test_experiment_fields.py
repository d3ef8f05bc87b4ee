"""session.experiment and session.run: the two session fields experiment runs add, end to end in
process (launcher headers, the proxy's middleware, the span attribute, the Phoenix filter)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from claude_session.core import fields
from claude_session.phoenix.filters import root_condition, span_condition
from claude_session.proxy.middleware import SessionMetadataMiddleware, current_session, tag_request
from claude_session.proxy.span_attributes import set_session_attributes
from claude_session.session import custom_headers as headers
from claude_session.session.errors import SessionError
from claude_session.session.launcher import Session

EXPERIMENT, RUN = fields.SESSION_EXPERIMENT, fields.SESSION_RUN


def test_the_fields_travel_as_headers_and_span_attributes() -> None:
    assert (
        EXPERIMENT.header == "x-session-tracking-experiment" and EXPERIMENT.attribute == "session.experiment"
    )
    assert RUN.header == "x-session-tracking-run" and RUN.attribute == "session.run"
    session = Session.new("fix-bugs", "v2", "fix-add", "fix-bugs-1", experiment="fix-bugs", run="3")
    sent = fields.to_headers(session.request_metadata())
    assert sent[EXPERIMENT.header] == "fix-bugs" and sent[RUN.header] == "3"
    assert fields.from_headers(sent.items())[RUN.key] == "3"
    merged = headers.merge(None, session.request_metadata(), "sk-proxy")
    assert "x-session-tracking-experiment: fix-bugs" in merged.splitlines()


@pytest.mark.parametrize(
    ("experiment", "run"), [("a b", "1"), ("x", "0"), ("x", "01"), ("x", "r1"), ("", "1")]
)
def test_a_bad_value_is_refused_before_anything_runs(experiment: str, run: str) -> None:
    with pytest.raises(SessionError) as refused:
        Session.new("t", "v1", None, None, experiment=experiment, run=run)
    assert refused.value.exit_code == 2


def _exported(provider: TracerProvider, exporter: InMemorySpanExporter, requester: object) -> dict[str, Any]:
    exporter.clear()
    with provider.get_tracer("tests.experiment").start_as_current_span("litellm_request") as span:
        set_session_attributes(span, {"requester_metadata": requester}, defaults={})
    (finished,) = exporter.get_finished_spans()
    exporter.clear()
    return dict(finished.attributes or {})


def test_span_gets_experiment_and_run_only_when_valid(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    good = _exported(provider, exporter, {"session_id": "s-1", EXPERIMENT.key: "fix-bugs", RUN.key: "2"})
    assert good["session.experiment"] == "fix-bugs" and good["session.run"] == "2"
    bad = _exported(provider, exporter, {"session_id": "s-1", EXPERIMENT.key: "a b", RUN.key: 2})
    assert "session.experiment" not in bad and "session.run" not in bad


async def _endpoint(request: Request) -> JSONResponse:
    tag_request({})
    return JSONResponse({"session": current_session()})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = SessionMetadataMiddleware(Starlette(routes=[Route("/v1/messages", _endpoint, methods=["POST"])]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://proxy.test"
    ) as http:
        yield http


@pytest.mark.anyio
async def test_the_proxy_reads_them_from_the_headers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/messages",
        headers={"x-session-tracking-id": "s-1", EXPERIMENT.header: "e1", RUN.header: "4"},
        json={"model": "claude-test"},  # the proxy refuses a Messages body without one
    )
    assert response.json()["session"] == {"session_id": "s-1", EXPERIMENT.key: "e1", RUN.key: "4"}
    refused = await client.post("/v1/messages", headers={RUN.header: "four"}, json={"model": "claude-test"})
    assert refused.status_code == 400 and RUN.header in refused.json()["error"]["message"]


def test_phoenix_filters_select_them() -> None:
    assert span_condition({"experiment": "e1", "run": "2"}) == (
        "name == 'litellm_request' and session.experiment == 'e1' and session.run == '2'"
    )
    assert root_condition({"experiment": "e1"}) == "attributes['session']['experiment'] == 'e1'"
