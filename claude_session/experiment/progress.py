"""The progress line on stderr: runs done of planned, spend of budget, elapsed and estimate."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(
        self, name: str, planned: int, done: int, budget_usd: float, out: TextIO = sys.stderr
    ) -> None:
        self.name, self.planned, self.done_before, self.budget_usd, self.out = (
            name,
            planned,
            done,
            budget_usd,
            out,
        )
        self.started = time.monotonic()

    def line(self, done: int, spent_usd: float, note: str = "") -> str:
        elapsed = time.monotonic() - self.started
        new = done - self.done_before
        left = self.planned - done
        estimate = f", ~{clock(elapsed / new * left)} left" if new > 0 and left > 0 else ""
        spend = f"${spent_usd:.4f} of ${self.budget_usd:.2f}"
        line = (
            f"experiment {self.name}: {done}/{self.planned} runs, {spend}, {clock(elapsed)} elapsed{estimate}"
        )
        return line + (f" ({note})" if note else "")

    def show(self, done: int, spent_usd: float, note: str = "") -> None:
        print(self.line(done, spent_usd, note), file=self.out, flush=True)
