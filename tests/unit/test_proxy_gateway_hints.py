"""Claude Code's gateway hint headers: launcher env, middleware (ASGI client) and span attributes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from claude_session.core import gateway_hints
from claude_session.proxy.middleware import SessionMetadataMiddleware, current_session, tag_request
from claude_session.proxy.span_attributes import set_session_attributes
from claude_session.session import launcher
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

HINT_HEADERS = {
    "x-claude-code-request-class": "subagent",
    "x-claude-code-agent-type": "general-purpose",
    "x-claude-code-agent-id": "a1b2c3d4e5",
    "x-claude-code-parent-agent-id": "agent:parent.7",
    "x-claude-code-prompt-id": "0b0c5f0e-2222-4c4c-8d8d-123456789abc",
}
HINT_METADATA = {
    "claude_code_request_class": "subagent",
    "claude_code_agent_type": "general-purpose",
    "claude_code_agent_id": "a1b2c3d4e5",
    "claude_code_parent_agent_id": "agent:parent.7",
    "claude_code_prompt_id": "0b0c5f0e-2222-4c4c-8d8d-123456789abc",
}
HINT_ATTRIBUTES = {
    "claude_code.request_class": "subagent",
    "claude_code.agent_type": "general-purpose",
    "claude_code.agent_id": "a1b2c3d4e5",
    "claude_code.parent_agent_id": "agent:parent.7",
    "claude_code.prompt_id": "0b0c5f0e-2222-4c4c-8d8d-123456789abc",
}

# The Messages routes refuse a body without a model (test_proxy_request_body.py).
MODEL = "claude-sonnet-4-5"


# --------------------------------------------------------------------------- the table


def test_every_hint_has_its_header_key_and_attribute() -> None:
    table = {h.header: (h.key, h.attribute) for h in gateway_hints.HINTS}
    assert table == {
        header: (key, attribute)
        for header, key, attribute in zip(HINT_HEADERS, HINT_METADATA, HINT_ATTRIBUTES, strict=True)
    }


@pytest.mark.parametrize(
    "value",
    ["main", "subagent", "general-purpose", "agent:custom", "a.b_c-d:e", "x" * gateway_hints.MAX_LEN],
)
def test_short_ascii_tokens_are_valid(value: str) -> None:
    assert gateway_hints.valid(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        " main",
        "main ",
        "two words",
        "-leading",
        "x" * (gateway_hints.MAX_LEN + 1),
        "naïve",
        "a\nb",
        7,
        None,
    ],
)
def test_anything_else_is_invalid(value: object) -> None:
    assert gateway_hints.valid(value) is None


# --------------------------------------------------------------------------- the launcher


def _env(tmp_path: Path, base: Mapping[str, str]) -> dict[str, str]:
    state = StatePaths(tmp_path / "state")
    state.root.mkdir()
    state.master_key.write_text("sk-test-master-key-0123456789\n")
    session = launcher.Session.new("debugging", "v1", None)
    return launcher.session_env(session, StackSettings(offline=True), state, base)


def test_the_launcher_turns_the_hints_on(tmp_path: Path) -> None:
    assert _env(tmp_path, {"PATH": "/usr/bin"})[gateway_hints.ENV_VAR] == "1"


@pytest.mark.parametrize("users", ["0", "1", ""])
def test_the_users_own_setting_wins(tmp_path: Path, users: str) -> None:
    assert _env(tmp_path, {gateway_hints.ENV_VAR: users})[gateway_hints.ENV_VAR] == users


# --------------------------------------------------------------------------- the middleware


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    def __init__(self) -> None:
        self.sessions: list[dict[str, str] | None] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        self.sessions.append(current_session())
        raw = await request.body()
        data: Any = json.loads(raw) if raw else {}
        tag_request(data)
        return JSONResponse({"data": data})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    app = SessionMetadataMiddleware(
        Starlette(routes=[Route("/v1/messages", recorder.endpoint, methods=["POST"])])
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as http:
        yield http


@pytest.mark.anyio
async def test_hints_reach_requester_metadata_with_the_session(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    headers = {"x-session-tracking-type": "debugging", "x-claude-code-session-id": "conv-1", **HINT_HEADERS}
    response = await client.post(
        "/v1/messages", headers=headers, json={"model": MODEL, "metadata": {"user_id": "u"}}
    )
    assert response.status_code == 200
    expected = {"session_type": "debugging", "claude_code_session_id": "conv-1", **HINT_METADATA}
    assert recorder.sessions == [expected]
    assert response.json()["data"]["litellm_metadata"]["requester_metadata"] == expected


@pytest.mark.anyio
async def test_hints_alone_are_recorded_for_any_client(client: httpx.AsyncClient, recorder: Recorder) -> None:
    response = await client.post(
        "/v1/messages",
        headers={"X-Claude-Code-Request-Class": "main", "x-claude-code-prompt-id": "p-1"},
        json={"model": MODEL},
    )
    assert response.status_code == 200
    assert recorder.sessions == [{"claude_code_request_class": "main", "claude_code_prompt_id": "p-1"}]


@pytest.mark.anyio
async def test_an_invalid_hint_is_dropped_not_refused(client: httpx.AsyncClient, recorder: Recorder) -> None:
    headers = {
        "x-session-tracking-type": "debugging",
        "x-claude-code-request-class": "main",
        "x-claude-code-agent-type": "has space",
        "x-claude-code-agent-id": "x" * (gateway_hints.MAX_LEN + 1),
        "x-claude-code-prompt-id": "bad/slash",
    }
    response = await client.post("/v1/messages", headers=headers, json={"model": MODEL})
    assert response.status_code == 200
    assert recorder.sessions == [{"session_type": "debugging", "claude_code_request_class": "main"}]


@pytest.mark.anyio
async def test_only_invalid_hints_leave_no_session(client: httpx.AsyncClient, recorder: Recorder) -> None:
    response = await client.post(
        "/v1/messages", headers={"x-claude-code-request-class": "?"}, json={"model": MODEL}
    )
    assert response.status_code == 200
    assert recorder.sessions == [None]


# --------------------------------------------------------------------------- the span


def _span_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter, metadata: Mapping[str, object]
) -> dict[str, Any]:
    exporter.clear()
    with provider.get_tracer("tests.gateway_hints").start_as_current_span("litellm_request") as span:
        set_session_attributes(span, metadata, defaults={})
    (finished,) = exporter.get_finished_spans()
    exporter.clear()
    return dict(finished.attributes or {})


def test_hints_become_claude_code_span_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    metadata = {"requester_metadata": {"session_id": "debugging-1", **HINT_METADATA}}
    assert _span_attributes(provider, exporter, metadata) == {"session.id": "debugging-1", **HINT_ATTRIBUTES}


def test_invalid_hints_in_metadata_never_reach_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    requester = {
        "claude_code_request_class": "main",
        "claude_code_agent_type": "evil\nvalue",
        "claude_code_agent_id": ["not", "a", "string"],
        "claude_code_prompt_id": "x" * 500,
    }
    attributes = _span_attributes(provider, exporter, {"requester_metadata": requester})
    assert attributes == {"claude_code.request_class": "main"}


def test_the_attribute_names_are_documented() -> None:
    page = (Path(__file__).parents[2] / "docs" / "sessions.md").read_text()
    for hint in gateway_hints.HINTS:
        assert f"`{hint.attribute}`" in page
