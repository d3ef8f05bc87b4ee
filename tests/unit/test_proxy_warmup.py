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

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    async def send(message: Any) -> None:
        events.append(message["type"])

    async def receive() -> Any:
        return {}

    asyncio.run(middleware.SessionMetadataMiddleware(app)({"type": "lifespan", "app": "A"}, receive, send))
    assert events == ["warm A", "freeze", "lifespan.startup.complete", "lifespan.shutdown.complete"]


class _Node:
    def __init__(self) -> None:
        self.link: object = self


def test_the_startup_heap_is_frozen_and_its_garbage_collected_first() -> None:
    garbage = weakref.ref(_Node())  # a cycle: only the collector frees it
    alive = _Node()
    try:
        frozen = warmup.freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 0
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
