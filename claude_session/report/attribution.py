"""Attribution inside sessions: where the money went (main loop, each sub-agent type, the rest)
and how many user turns it took, from the `claude_code.*` gateway hints on each span.

Buckets: `main` (request class `main`), `subagent:<agent type>` (request class `subagent`;
`subagent:(unknown)` when it names no type), `rest` (any other class, e.g. auxiliary or
compaction, and every span without hints). Each bucket is summed from its own spans with
`math.fsum` (correctly rounded, independent of order), as is the total, so the buckets add up
to the total to within the last bit of a float; `check` says when they would not.

Turns: distinct prompt ids (`claude_code.prompt_id`, one per user turn) per session. A
session none of whose spans carries a prompt id has an unknown number of turns: it is
counted apart and left out of turns per session and cost per turn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from claude_session.core import gateway_hints

MAIN = "main"
REST = "rest"
SUBAGENT_PREFIX = "subagent:"
UNKNOWN_AGENT = "(unknown)"

# The sub-object of `claude_code.*` attributes in a fetched row (column "claude_code").
_CLASS = gateway_hints.REQUEST_CLASS.attribute.partition(".")[2]
_AGENT_TYPE = gateway_hints.AGENT_TYPE.attribute.partition(".")[2]
_PROMPT = gateway_hints.PROMPT_ID.attribute.partition(".")[2]

# Report dimensions read from the gateway hints -> key in the row's `claude_code` object.
HINT_DIMENSIONS: Mapping[str, str] = {"request_class": _CLASS, "agent_type": _AGENT_TYPE}


def hints(row: Mapping[str, Any]) -> Mapping[str, Any]:
    value = row.get("claude_code")
    return value if isinstance(value, Mapping) else {}


def group_value(row: Mapping[str, Any], session: Mapping[str, Any], key: str, group_by: str) -> object:
    """The value a row is grouped by: a session field (`key` under `session`), a hint or the model."""
    if group_by == "model":
        return row.get("model") or None
    if group_by in HINT_DIMENSIONS:
        return hints(row).get(HINT_DIMENSIONS[group_by])
    return session.get(key)


def bucket(row: Mapping[str, Any]) -> str:
    found = hints(row)
    request_class = found.get(_CLASS)
    if request_class == gateway_hints.MAIN:
        return MAIN
    if request_class == gateway_hints.SUBAGENT:
        agent = found.get(_AGENT_TYPE)
        return SUBAGENT_PREFIX + (str(agent) if agent else UNKNOWN_AGENT)
    return REST


def ordered(breakdown: Mapping[str, float]) -> dict[str, float]:
    """main first, then the sub-agent types by name, then rest."""
    subagents = sorted(k for k in breakdown if k not in (MAIN, REST))
    return {k: breakdown[k] for k in (MAIN, *subagents, REST) if k in breakdown}


def adds_up(breakdown: Mapping[str, float], total: float) -> bool:
    """The breakdown adds up to the total (to within float rounding: 1e-9 of it, or 1e-12 $)."""
    return math.isclose(math.fsum(breakdown.values()), total, rel_tol=1e-9, abs_tol=1e-12)


class Tally:
    """One group's running costs per bucket and per session, and prompt ids per session."""

    __slots__ = ("buckets", "prompts", "session_costs")

    def __init__(self) -> None:
        self.buckets: dict[str, list[float]] = {}
        self.session_costs: dict[str | None, list[float]] = {}
        self.prompts: dict[str | None, set[str]] = {}

    def add(self, row: Mapping[str, Any], session_id: str | None, cost: float) -> None:
        self.buckets.setdefault(bucket(row), []).append(cost)
        self.session_costs.setdefault(session_id, []).append(cost)
        prompts = self.prompts.setdefault(session_id, set())
        prompt = hints(row).get(_PROMPT)
        if prompt:
            prompts.add(str(prompt))

    def total(self) -> float:
        return math.fsum(cost for costs in self.buckets.values() for cost in costs)

    def stats(self) -> dict[str, Any]:
        """The GroupStats fields this tally fills."""
        breakdown = {MAIN: 0.0, REST: 0.0} | {k: math.fsum(v) for k, v in self.buckets.items()}
        known = [s for s, prompts in self.prompts.items() if prompts]
        return {
            "cost_breakdown": ordered(breakdown),
            "turns": sum(len(self.prompts[s]) for s in known),
            "turns_unknown_sessions": len(self.prompts) - len(known),
            "turn_cost_usd": math.fsum(c for s in known for c in self.session_costs[s]),
        }


def warnings(groups: Iterable[Any]) -> list[str]:
    """One line per group (GroupStats) whose breakdown does not add up to its cost, and one
    when some sessions carry no prompt ids (their turns are unknown)."""
    groups = list(groups)
    lines = [
        f"{g.label}: the cost breakdown adds up to {math.fsum(g.cost_breakdown.values())!r}, "
        f"not the total {g.cost_usd!r}"
        for g in groups
        if not adds_up(g.cost_breakdown, g.cost_usd)
    ]
    unknown = sum(g.turns_unknown_sessions for g in groups)
    if unknown:
        lines.append(
            f"turns unknown for {unknown} session{'s' if unknown != 1 else ''} without prompt ids: "
            "no gateway hints (Claude Code before 2.1.331, or CLAUDE_CODE_GATEWAY_HINT_HEADERS not 1); "
            "left out of turns per session and cost per turn"
        )
    return lines
