"""The watermark's Phoenix side (report/cache/watermark.py, phoenix/cursors.py) against a fake
GraphQL that answers `Project.spans(after:)` as Phoenix does: the first rows stored after a row id."""

from __future__ import annotations

import bisect
import random
import re
from datetime import datetime
from typing import Any

import pytest

from claude_session.phoenix.cursors import cursor, fresh_range, rowid_of, start_of
from claude_session.report.cache import watermark


class FakeSpans:
    """LLM spans by row id; counts the requests and the aliases of each."""

    def __init__(self, rowids: list[int]) -> None:
        self.rowids = sorted(rowids)
        self.aliases: list[int] = []

    def _after(self, after: str | None) -> list[int]:
        low = rowid_of(after) if after else -1
        return self.rowids[bisect.bisect_right(self.rowids, low) :]

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        probes = re.findall(r'(p\d+): spans\(first: 1, after: "([^"]+)"', query)
        self.aliases.append(len(probes))
        node = {
            alias: {"edges": [{"cursor": cursor(r)} for r in self._after(after)[:1]]}
            for alias, after in probes
        }
        return {"node": node}


@pytest.mark.parametrize("seed", range(8))
def test_the_highest_row_id_is_found_in_a_few_requests(seed: int) -> None:
    rng = random.Random(seed)
    rowids = rng.sample(range(1, rng.choice([50, 5_000, 2_000_000])), k=rng.randint(1, 40))
    for known in (min(rowids), rowids[len(rowids) * 3 // 4]):  # the lowest; one stored late, not last
        fake = FakeSpans(rowids)
        assert watermark.highest_rowid(fake, "p", known) == max(rowids)  # type: ignore[arg-type]
        assert all(n <= 50 for n in fake.aliases)  # Phoenix refuses more aliases
        assert len(fake.aliases) <= 8


@pytest.mark.parametrize("off_by", [0, 1, -1, 700, -700, 3_000_000, -9_000])
def test_a_guess_finds_the_highest_row_id_whatever_its_error(off_by: int) -> None:
    # One LLM span in three (the proxy's two sibling spans between them), 10,000 new ones.
    rowids = list(range(3, 30_003, 3))
    fake = FakeSpans(rowids)
    found = watermark.highest_rowid(fake, "p", known=rowids[999], guess=max(rowids) + off_by)  # type: ignore[arg-type]
    assert found == max(rowids)
    assert all(n <= 50 for n in fake.aliases)
    if off_by == 0:
        assert len(fake.aliases) == 1  # a right guess: one request


def test_cursors_are_phoenix_s() -> None:
    assert cursor(2001) == "MjAwMQ=="  # as Phoenix sent it for row 2001
    sorted_cursor = "MTAwODk3MTpEQVRFVElNRToyMDI2LTEyLTA0VDE0OjI0OjA5Ljc1ODk4MCswMDowMA=="
    assert rowid_of(sorted_cursor) == 1008971
    assert start_of(sorted_cursor) == datetime(2026, 12, 4, 14, 24, 9, 758980)
    ranges = {fresh_range()["start"] for _ in range(50)}
    assert len(ranges) > 40 and all(r.startswith("1970-01-01T00:00:00.") for r in ranges)
