"""The proxy-wide session store and its endpoint, in process: master key, validation, every worker sees it."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from claude_session.proxy.proxy_wide import PROXY_SESSION_ROUTE, ProxyWideEndpoint, ProxyWideStore

pytestmark = pytest.mark.anyio

KEY = "sk-cs-test-master-key"
SESSION = {"session_id": "ci-20261129-030000-abcdef", "session_type": "ci", "prompt_version": "v3"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _downstream(request: Request) -> PlainTextResponse:
    return PlainTextResponse("from the proxy")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = ProxyWideEndpoint(
        Starlette(routes=[Route("/v1/messages", _downstream, methods=["POST"])]),
        ProxyWideStore(tmp_path / "proxy_session.json"),
        KEY,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as http:
        yield http


async def test_set_get_and_clear_with_the_master_key(client: httpx.AsyncClient, tmp_path: Path) -> None:
    auth = {"x-litellm-api-key": KEY}
    put = await client.put(PROXY_SESSION_ROUTE, headers=auth, content=json.dumps(SESSION))
    assert put.status_code == 200 and put.json() == {"session": SESSION}
    assert json.loads((tmp_path / "proxy_session.json").read_text()) == SESSION
    got = await client.get(PROXY_SESSION_ROUTE, headers={"authorization": f"Bearer {KEY}"})
    assert got.json()["session"] == SESSION
    assert got.json()["worker"] == os.getpid()  # which worker answered
    cleared = await client.delete(PROXY_SESSION_ROUTE, headers=auth)
    assert cleared.status_code == 200
    assert not (tmp_path / "proxy_session.json").exists()
    assert (await client.get(PROXY_SESSION_ROUTE, headers=auth)).json()["session"] is None


@pytest.mark.parametrize("headers", [{}, {"x-litellm-api-key": "sk-wrong"}, {"authorization": "Bearer sk-x"}])
async def test_without_the_master_key_nothing_changes(
    client: httpx.AsyncClient, tmp_path: Path, headers: dict[str, str]
) -> None:
    answer = await client.put(PROXY_SESSION_ROUTE, headers=headers, content=json.dumps(SESSION))
    assert answer.status_code == 401
    assert not (tmp_path / "proxy_session.json").exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"session_type": "ci"}),  # no id
        json.dumps({**SESSION, "session_type": "bad type"}),
        json.dumps({**SESSION, "extra": "x"}),
        json.dumps([SESSION]),
    ],
)
async def test_a_bad_session_is_refused(client: httpx.AsyncClient, tmp_path: Path, body: str) -> None:
    answer = await client.put(PROXY_SESSION_ROUTE, headers={"x-litellm-api-key": KEY}, content=body)
    assert answer.status_code == 400, answer.text
    assert not (tmp_path / "proxy_session.json").exists()


async def test_other_routes_pass_through(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/messages")
    assert answer.status_code == 200 and answer.text == "from the proxy"


def test_a_second_worker_sees_each_change_on_its_next_read(tmp_path: Path) -> None:
    path = tmp_path / "proxy_session.json"
    writer, reader = ProxyWideStore(path), ProxyWideStore(path)
    assert reader.get() == {}
    writer.set(SESSION)
    assert reader.get() == SESSION
    changed = {**SESSION, "session_id": "ci-20261129-030001-fedcba", "prompt_version": "v4"}
    writer.set(changed)
    assert reader.get() == changed
    writer.clear()
    assert reader.get() == {}


def test_a_corrupt_file_is_ignored_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "proxy_session.json"
    path.write_text('{"session_id": "x\\ny", "session_type": "ci"}')
    assert ProxyWideStore(path).get() == {}
    assert ProxyWideStore(None).get() == {}
