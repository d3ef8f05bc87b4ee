"""Patch 0013: /v1/messages is matched near the front of the proxy's route table (installed LiteLLM).

The Anthropic endpoints are a lazily loaded router; FastAPI keeps an included router as one
entry, so LiteLLM's hot-route ordering did not see /v1/messages and every request was matched
against the whole table first. In process: the real app, the feature loaded as on a first request.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled price map: no fetch

proxy_server = pytest.importorskip("litellm.proxy.proxy_server")
lazy = pytest.importorskip("litellm.proxy._lazy_features")
route_priority = pytest.importorskip("litellm.proxy.route_priority")
from starlette.routing import Match  # noqa: E402 - after the importorskip above

pytestmark = pytest.mark.anyio
ANTHROPIC_ENDPOINTS = "litellm.proxy.anthropic_endpoints.endpoints"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
            "query_string": b"", "app": proxy_server.app}  # fmt: skip


def _first_full(method: str, path: str) -> int:
    routes = proxy_server.app.router.routes
    return next(i for i, route in enumerate(routes) if route.matches(_scope(method, path))[0] is Match.FULL)


async def test_messages_is_matched_first_by_the_anthropic_endpoint() -> None:
    feature = next(f for f in lazy.LAZY_FEATURES if f.module_path == ANTHROPIC_ENDPOINTS)
    await lazy._force_load(proxy_server.app, feature)
    routes = proxy_server.app.router.routes
    index = _first_full("POST", "/v1/messages")
    assert index < 10, f"POST /v1/messages first matches entry {index} of {len(routes)}"
    endpoints = {route.endpoint.__module__ for route in routes[index].original_router.routes}
    assert endpoints == {ANTHROPIC_ENDPOINTS}
    # Sorting again (each lazy feature load does) neither adds branches nor moves the route.
    assert len(route_priority.hot_routes_first(routes)) == len(routes)
    # The Anthropic router keeps its other routes where they were: after every eager entry.
    assert _first_full("POST", "/v1/messages/count_tokens") > index
