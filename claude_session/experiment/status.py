"""`experiment status`: done / running / left, spend so far and the time per run, from the ledger."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from claude_session.experiment.ledger import History
from claude_session.experiment.progress import clock
from claude_session.experiment.runner import shard_running
from claude_session.experiment.schedule import plan
from claude_session.experiment.spec import Experiment


@dataclass(frozen=True)
class Status:
    planned: int
    done: int
    passed: int
    failed: int
    infra: int
    running: int  # attempts in flight (their runner holds its shard's lock)
    abandoned: int  # attempts a killed runner left open: closed and run again by the next `run`
    spent_usd: float
    budget_usd: float
    claude_s: float | None  # median of Claude Code's own time per run
    wall_s: float | None  # median wall time per attempt (worktree to teardown)
    budget_stopped: bool

    @property
    def left(self) -> int:
        return self.planned - self.done

    def lines(self, name: str) -> list[str]:
        per_run = "no run finished yet"
        if self.wall_s is not None:
            per_run = f"{self.wall_s:.1f}s per run (Claude Code {self.claude_s or 0:.1f}s of it)"
        lines = [
            f"experiment {name}",
            f"runs     {self.done} done of {self.planned} ({self.passed} passed, {self.failed} failed, "
            f"{self.infra} infrastructure failures), {self.running} running, {self.left} left"
            + (f" ({self.abandoned} interrupted, to run again)" if self.abandoned else ""),
            f"spend    ${self.spent_usd:.4f} of ${self.budget_usd:.2f}",
            f"time     {per_run}"
            + (
                f"; about {clock(self.wall_s * self.left)} left at one run at a time"
                if self.wall_s and self.left
                else ""
            ),
        ]
        if self.budget_stopped:
            lines.append("stopped  budget reached (raise budget_usd in the file and run again to go on)")
        return lines


def status_of(experiment: Experiment, history: History, directory: Path) -> Status:
    """`directory`: the experiment's state directory (its shard locks tell running from abandoned)."""
    planned = {run.key for run in plan(experiment)}
    records = [r for key, r in history.records.items() if key in planned]
    walls = [
        a.wall_s for a in history.attempts.values() if a.wall_s is not None and a.outcome != "interrupted"
    ]
    return Status(
        planned=len(planned),
        done=len(records),
        passed=sum(r.status == "passed" for r in records),
        failed=sum(r.status == "failed" for r in records),
        infra=sum(r.status == "infra" for r in records),
        running=sum(shard_running(directory, a.shard) for a in history.open_attempts()),
        abandoned=sum(not shard_running(directory, a.shard) for a in history.open_attempts()),
        spent_usd=history.spent_usd(),
        budget_usd=experiment.budget_usd,
        claude_s=statistics.median(r.duration_s for r in records) if records else None,
        wall_s=statistics.median(walls) if walls else None,
        budget_stopped=bool(history.budget_stops),
    )
