"""The worker warm-up runs once, when the app's lifespan startup completes, before it is reported."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from claude_session.proxy import middleware, warmup


def test_lifespan_startup_is_reported_after_the_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(warmup, "warm_up", lambda app=None: events.append(f"warm {app}") or 0.0)
    monkeypatch.setattr(warmup, "freeze_startup_heap", lambda: events.append("freeze") or 0)

    async def load_lazy_features(app: Any) -> list[str]:
        events.append(f"lazy {app}")
        return []

    monkeypatch.setattr(warmup, "load_lazy_features", load_lazy_features)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    async def send(message: Any) -> None:
        events.append(message["type"])

    async def receive() -> Any:
        return {}

    asyncio.run(middleware.SessionMetadataMiddleware(app)({"type": "lifespan", "app": "A"}, receive, send))
    assert events == ["lazy A", "warm A", "freeze", "lifespan.startup.complete", "lifespan.shutdown.complete"]


class _Node:
    def __init__(self) -> None:
        self.link: object = self


def test_the_startup_heap_is_frozen_and_its_garbage_collected_first() -> None:
    garbage = weakref.ref(_Node())  # a cycle: only the collector frees it
    alive = _Node()
    try:
        frozen = warmup.freeze_startup_heap()
        # At least what it reported stays frozen (a thread left by an earlier test may freeze
        # more in between: seen once in CI, 59 objects more than reported).
        assert 0 < frozen <= gc.get_freeze_count()
        assert garbage() is None  # collected before the freeze, not kept forever
        assert not any(o is alive for o in gc.get_objects())  # frozen: in no generation the collector scans
    finally:
        gc.unfreeze()
    assert any(o is alive for o in gc.get_objects())


def test_warm_up_skips_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "LAZY_MODULES", ("claude_session_no_such_module",))
    monkeypatch.setattr(warmup, "DEFERRED_MODELS", ("claude_session_no_such_module:Model",))
    monkeypatch.setattr(warmup, "LAZY_CACHES", ("claude_session_no_such_module:fill",))
    assert warmup.warm_up(object()) >= 0.0  # nothing there, no router on the app: skipped, no error


def test_the_routers_claude_code_needs_are_registered_before_the_first_request() -> None:
    """LiteLLM registers /v1/messages (and /anthropic/...) on the first request under them."""
    pytest.importorskip("litellm.proxy._lazy_features")
    from fastapi import FastAPI
    from starlette.routing import Match

    app = FastAPI()  # a fresh app: nothing registered by another test in this process
    scope = {"type": "http", "method": "POST", "path": "/v1/messages", "root_path": "", "headers": [],
             "query_string": b""}  # fmt: skip
    assert not any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)
    loaded = asyncio.run(warmup.load_lazy_features(app))
    assert "litellm.proxy.anthropic_endpoints.endpoints" in loaded
    assert "litellm.proxy.pass_through_endpoints.llm_passthrough_endpoints" in loaded
    assert set(loaded) <= app.state.lazy_loaded  # what LiteLLM's own middleware then skips
    assert any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)
    assert asyncio.run(warmup.load_lazy_features(app)) == []  # once
