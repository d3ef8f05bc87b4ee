"""Patch 0012: classifying a failed database lookup imports nothing per call (installed LiteLLM).

Without a database every Claude Code request's end-user lookup raises "No db connected";
LiteLLM's DB-metrics wrapper classifies that exception. Unpatched, it imported the optional
prisma package each time: a sys.path search, then an ImportError in place of the lookup's own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled price map: no fetch

log_db_metrics = pytest.importorskip("litellm.proxy.db.log_db_metrics")
HAS_PRISMA = importlib.util.find_spec("prisma") is not None


class _ImportWatch:
    """A meta-path finder that records every search for `prisma` and finds nothing itself."""

    def __init__(self) -> None:
        self.searches = 0

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.split(".")[0] == "prisma":
            self.searches += 1
        return None


@pytest.mark.skipif(HAS_PRISMA, reason="prisma is installed here: its errors are database errors")
def test_without_prisma_a_failed_lookup_is_classified_without_imports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watch = _ImportWatch()
    monkeypatch.setattr(sys, "meta_path", [watch, *sys.meta_path])
    for _ in range(3):
        assert log_db_metrics.is_exception_related_to_db(Exception("No db connected")) is False
    assert log_db_metrics.is_exception_related_to_db(httpx.ConnectError("refused")) is True
    assert watch.searches <= 1  # resolved once per process, then never searched again


async def test_the_lookups_own_exception_reaches_the_caller() -> None:
    failure = Exception("No db connected")

    @log_db_metrics.log_db_metrics
    async def lookup(**_: object) -> None:
        raise failure

    with pytest.raises(Exception) as raised:
        await lookup(parent_otel_span=None)
    assert raised.value is failure  # not an ImportError raised while classifying it


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


pytestmark = pytest.mark.anyio
