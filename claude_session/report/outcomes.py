"""Outcomes of a group of sessions: ratings and checks next to cost (pure, no I/O).

- rated: sessions with a `rating` score; mean_score: their mean (0-10).
- checked / passed: sessions with a `check` (`--check CMD`), and those whose check passed;
  success_rate = passed / checked.
- cost_per_success: the cost of the checked sessions divided by the passed ones, what one
  success costs when failures are paid for too (None without a pass). Sessions without a
  check are left out of it: their outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from claude_session.phoenix.annotations import Outcome


@dataclass(frozen=True)
class GroupOutcomes:
    sessions: int
    rated: int
    mean_score: float | None
    checked: int
    passed: int
    success_rate: float | None
    cost_per_success: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "rated_sessions": self.rated,
            "mean_score": self.mean_score,
            "checked_sessions": self.checked,
            "passed_sessions": self.passed,
            "success_rate": self.success_rate,
            "cost_per_success": self.cost_per_success,
        }


def summarize(
    session_ids: Iterable[str],
    outcomes: Mapping[str, Outcome],
    costs: Mapping[str, float] | None = None,
) -> GroupOutcomes:
    """The outcomes of one group; `costs` maps a session id to its cost (missing: 0)."""
    ids = list(dict.fromkeys(session_ids))
    scores = [o.rating_score for sid in ids if (o := outcomes.get(sid)) and o.rating_score is not None]
    checks = {sid: o.check_passed for sid in ids if (o := outcomes.get(sid)) and o.check_passed is not None}
    passed = sum(1 for ok in checks.values() if ok)
    cost_per_success = None
    if costs is not None and passed:
        cost_per_success = sum(costs.get(sid, 0.0) for sid in checks) / passed
    return GroupOutcomes(
        sessions=len(ids),
        rated=len(scores),
        mean_score=sum(scores) / len(scores) if scores else None,
        checked=len(checks),
        passed=passed,
        success_rate=passed / len(checks) if checks else None,
        cost_per_success=cost_per_success,
    )
