"""The session middleware's checks on Messages requests, in process: a body that is not a JSON
object or has no model, and an over-long trace/session id header, get Anthropic's 400 before
LiteLLM sees them; anything else reaches the app with its body unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from claude_session.proxy import request_body
from claude_session.proxy.middleware import MAX_ID_HEADER_CHARS, SessionMetadataMiddleware

pytestmark = pytest.mark.anyio
GOOD = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Echo:
    """The app behind the middleware: returns the body bytes it received, counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def endpoint(self, request: Request) -> Response:
        self.calls += 1
        return Response(await request.body(), media_type="application/octet-stream")


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
async def client(echo: Echo) -> AsyncIterator[httpx.AsyncClient]:
    paths = ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions")
    app = SessionMetadataMiddleware(
        Starlette(routes=[Route(p, echo.endpoint, methods=["POST"]) for p in paths])
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://proxy.test"
    ) as http:
        yield http


def _anthropic_400(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    payload: dict[str, Any] = response.json()
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    message: str = payload["error"]["message"]
    return message


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        (b"[1, 2]", "Invalid JSON payload: the request body must be a JSON object, not an array"),
        (b'"hello"', "Invalid JSON payload: the request body must be a JSON object, not a string"),
        (b"42", "Invalid JSON payload: the request body must be a JSON object, not a number"),
        (b"null", "Invalid JSON payload: the request body must be a JSON object, not null"),
        (b'{"model": "claude-', "Invalid JSON payload: the request body is not JSON"),
        (b"\xff\xfe", "Invalid JSON payload: the request body is not JSON"),
        (b"", "Invalid JSON payload: the request body is not JSON"),
        (json.dumps({"max_tokens": 5, "messages": []}).encode(), "model: Field required"),
        (json.dumps({**GOOD, "model": ""}).encode(), "model: Field required"),
        (json.dumps({**GOOD, "model": 7}).encode(), "model: Field required"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
async def test_a_body_the_proxy_cannot_route_gets_anthropic_400(
    client: httpx.AsyncClient, echo: Echo, path: str, raw: bytes, start: str
) -> None:
    response = await client.post(path, content=raw, headers={"content-type": "application/json"})
    assert _anthropic_400(response).startswith(start)
    assert echo.calls == 0  # refused before LiteLLM


async def test_a_good_body_reaches_the_app_byte_for_byte(client: httpx.AsyncClient, echo: Echo) -> None:
    raw = json.dumps(GOOD, indent=3).encode() + b"  \n"
    response = await client.post("/v1/messages", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.content == raw
    assert echo.calls == 1


async def test_other_routes_are_not_body_checked(client: httpx.AsyncClient, echo: Echo) -> None:
    response = await client.post("/v1/chat/completions", content=b"[1]")
    assert response.status_code == 200 and response.content == b"[1]"


async def test_the_upstream_judges_the_rest(client: httpx.AsyncClient) -> None:
    """messages and max_tokens are Anthropic's to check: the proxy forwards them (and its answer)."""
    raw = json.dumps({"model": "m", "max_tokens": -1, "messages": "x"}).encode()
    assert (await client.post("/v1/messages", content=raw)).status_code == 200


@pytest.mark.parametrize(
    "header", ["x-claude-code-session-id", "x-litellm-session-id", "x-litellm-trace-id", "x-session-id"]
)
async def test_an_id_header_longer_than_an_id_is_refused(client: httpx.AsyncClient, header: str) -> None:
    at_limit = await client.post("/v1/messages", json=GOOD, headers={header: "c" * MAX_ID_HEADER_CHARS})
    assert at_limit.status_code == 200
    response = await client.post("/v1/messages", json=GOOD, headers={header: "c" * 5000})
    message = _anthropic_400(response)
    assert message == f"header {header}: at most {MAX_ID_HEADER_CHARS} characters (got 5000)"


async def test_a_long_header_that_is_no_id_is_left_alone(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/messages", json=GOOD, headers={"x-custom-note": "n" * 5000})
    assert response.status_code == 200


def test_problem_is_none_for_a_routable_body() -> None:
    assert request_body.problem(json.dumps(GOOD).encode()) is None
