"""The worker warm-up runs once, when the app's lifespan startup completes, before it is reported."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from claude_session.proxy import middleware, warmup


def test_lifespan_startup_is_reported_after_the_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(warmup, "warm_up", lambda app=None: events.append(f"warm {app}") or 0.0)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    async def send(message: Any) -> None:
        events.append(message["type"])

    async def receive() -> Any:
        return {}

    asyncio.run(middleware.SessionMetadataMiddleware(app)({"type": "lifespan", "app": "A"}, receive, send))
    assert events == ["warm A", "lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_warm_up_skips_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warmup, "LAZY_MODULES", ("claude_session_no_such_module",))
    monkeypatch.setattr(warmup, "DEFERRED_MODELS", ("claude_session_no_such_module:Model",))
    monkeypatch.setattr(warmup, "LAZY_CACHES", ("claude_session_no_such_module:fill",))
    assert warmup.warm_up(object()) >= 0.0  # nothing there, no router on the app: skipped, no error
