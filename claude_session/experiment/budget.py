"""The budget: no run starts that could take the experiment's spend past `budget_usd`.

A run about to start is assumed to cost `max_budget_usd` when the file sets one (Claude Code is
held to it), else as much as the largest run so far. Before any run has finished there is no
such figure: one run goes alone, and its cost sets the estimate for the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final, Literal

WAIT: Final = "wait"


@dataclass(frozen=True)
class Refusal:
    spent_usd: float
    reserved_usd: float
    estimate_usd: float
    budget_usd: float

    def describe(self) -> str:
        return (
            f"budget reached: ${self.spent_usd:.4f} spent + ${self.reserved_usd:.4f} in flight + "
            f"${self.estimate_usd:.4f} for the next run > ${self.budget_usd:.4f}"
        )


class Budget:
    """Spend so far, and the reservations of the runs in flight (thread-safe)."""

    def __init__(
        self, budget_usd: float, per_run_usd: float | None, spent_usd: float, largest_usd: float | None
    ):
        self.budget_usd = budget_usd
        self.per_run_usd = per_run_usd
        self._spent = spent_usd
        self._largest = largest_usd
        self._reserved: dict[str, float] = {}
        self._others = 0  # runs in flight in other runners (shards) writing the same ledger
        self._lock = threading.Lock()

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return self._spent

    def estimate(self) -> float | None:
        return self.per_run_usd if self.per_run_usd is not None else self._largest

    def sync(self, spent_usd: float, largest_usd: float | None, others_in_flight: int) -> None:
        """The ledger's figures, which count what the other runners of the experiment spent and
        run (shards on one machine share the ledger). This runner's attempts are in it once they
        end: one not yet settled counts twice until it is, which errs on the safe side."""
        with self._lock:
            self._spent = spent_usd
            if largest_usd is not None:
                self._largest = largest_usd if self._largest is None else max(self._largest, largest_usd)
            self._others = others_in_flight

    def try_reserve(self, token: str) -> Refusal | Literal["wait"] | None:
        """Reserve the next run's estimate under `token`: None when reserved, WAIT until a run in
        flight ends (its cost may free or settle the estimate), a Refusal when no run can start."""
        with self._lock:
            estimate = self.estimate()
            busy = bool(self._reserved) or self._others > 0
            if estimate is None:
                if busy:
                    return WAIT
                self._reserved[token] = 0.0
                return None
            reserved = sum(self._reserved.values()) + self._others * estimate
            if self._spent + reserved + estimate > self.budget_usd + 1e-12:
                if busy:
                    return WAIT
                return Refusal(self._spent, reserved, estimate, self.budget_usd)
            self._reserved[token] = estimate
            return None

    def settle(self, token: str, cost_usd: float) -> None:
        """An attempt ended: its real cost replaces its reservation."""
        with self._lock:
            self._reserved.pop(token, None)
            self._spent += cost_usd
            self._largest = cost_usd if self._largest is None else max(self._largest, cost_usd)
