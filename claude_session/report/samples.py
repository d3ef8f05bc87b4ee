"""Per-session figures of each group, collected during the aggregation's one pass over the rows,
for the bootstrap (report/stats.py): cost, tokens, requests and the median request latency."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from claude_session.report.stats import GroupSample


class _Session:
    __slots__ = ("cost", "latencies", "requests", "tokens")

    def __init__(self) -> None:
        self.cost: list[float] = []  # summed with math.fsum: the same figure whatever the rows' order
        self.tokens = 0
        self.requests = 0
        self.latencies: list[float] = []


class SessionCollector:
    """Feed it every row with the group key the aggregation gave it (`fetch.aggregate(..., sessions=)`)."""

    def __init__(self) -> None:
        self.groups: dict[str | None, dict[str | None, _Session]] = {}

    def add(self, key: str | None, row: Mapping[str, Any], session: Mapping[str, Any]) -> None:
        sessions = self.groups.get(key)
        if sessions is None:
            sessions = self.groups[key] = {}
        session_id = session.get("id")
        one = sessions.get(session_id)
        if one is None:
            one = sessions[session_id] = _Session()
        one.requests += 1
        one.cost.append(float(row.get("cost") or 0.0))
        tokens = row.get("tokens")
        if tokens:  # the prompt count includes cache reads and writes
            one.tokens += int(tokens.get("prompt") or 0) + int(tokens.get("completion") or 0)
        if row.get("latency") is not None:
            one.latencies.append(float(row["latency"]))

    def samples(self) -> dict[str, GroupSample]:
        """Per group label ("(none)" for rows without the attribute, as GroupStats.label)."""
        import numpy as np

        result: dict[str, GroupSample] = {}
        for key, sessions in self.groups.items():
            ordered = sorted(sessions.items(), key=lambda item: (item[0] is None, item[0] or ""))
            result["(none)" if key is None else key] = GroupSample(
                [s for s, _ in ordered],
                {
                    "cost": np.array([math.fsum(one.cost) for _, one in ordered], dtype=np.float64),
                    "tokens": np.array([one.tokens for _, one in ordered], dtype=np.float64),
                    "requests": np.array([one.requests for _, one in ordered], dtype=np.float64),
                    "latency_p50": np.array(
                        [statistics.median(one.latencies) if one.latencies else np.nan for _, one in ordered],
                        dtype=np.float64,
                    ),
                },
            )
        return result
