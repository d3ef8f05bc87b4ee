"""The ledger: an experiment's history as JSON lines, appended as things happen, replayed to resume.

Events: `plan` (a runner started, with its shard and planned runs), `attempt_start` (the session
ids chosen up front, the work directory), `attempt_end` (passed / failed / infra / interrupted,
with the attempt's cost), `infra_retry`, `record` (a finished RunRecord) and `budget_stop`.
Each line is written whole and flushed to disk before the runner goes on, so a crash, a SIGKILL or
a reboot loses at most the line being written; a torn last line is skipped on reading. Shards
running on one machine share the file: every append holds an exclusive lock on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claude_session.experiment.records import RunRecord
from claude_session.experiment.schedule import RunKey

LEDGER_NAME = "ledger.jsonl"
INFRA = "infra"
INTERRUPTED = "interrupted"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def key_dict(key: RunKey) -> dict[str, Any]:
    return {"task": key.task, "variant": key.variant, "repetition": key.repetition}


def key_of(event: Mapping[str, Any]) -> RunKey:
    return RunKey(str(event["task"]), str(event["variant"]), int(event["repetition"]))


class Ledger:
    """Appends events to one JSON-lines file; safe across the runner's threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, "at": now_iso(), **data}, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)
            out.write(line)
            out.flush()
            os.fsync(out.fileno())

    def events(self) -> Iterator[dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash mid-write
            if isinstance(event, dict) and "event" in event:
                yield event

    def replay(self) -> History:
        return History.of(self.events())


@dataclass
class Attempt:
    key: RunKey
    attempt: int
    session_id: str
    claude_session_id: str
    shard: str
    workdir: str
    started_at: str
    ended_at: str | None = None
    outcome: str | None = None
    cost_usd: float = 0.0
    wall_s: float | None = None


@dataclass
class History:
    """What the ledger says happened."""

    records: dict[RunKey, RunRecord] = field(default_factory=dict)
    attempts: dict[str, Attempt] = field(default_factory=dict)  # by session id
    budget_stops: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, events: Iterator[dict[str, Any]]) -> History:
        history = cls()
        for event in events:
            kind = event["event"]
            if kind == "attempt_start":
                history.attempts[event["session_id"]] = Attempt(
                    key=key_of(event),
                    attempt=int(event["attempt"]),
                    session_id=event["session_id"],
                    claude_session_id=event["claude_session_id"],
                    shard=str(event.get("shard", "1/1")),
                    workdir=str(event.get("workdir", "")),
                    started_at=event["at"],
                )
            elif kind == "attempt_end" and event.get("session_id") in history.attempts:
                attempt = history.attempts[event["session_id"]]
                attempt.ended_at = event["at"]
                attempt.outcome = event.get("outcome")
                attempt.cost_usd = float(event.get("cost_usd") or 0.0)
                attempt.wall_s = event.get("wall_s")
            elif kind == "record":
                record = RunRecord.from_dict(event["record"])
                key = RunKey(record.task, record.variant, record.repetition)
                history.records.setdefault(key, record)
            elif kind == "budget_stop":
                history.budget_stops.append(event)
        return history

    def spent_usd(self) -> float:
        """Every attempt's cost, infrastructure failures included: the budget pays for them too."""
        return sum(a.cost_usd for a in self.attempts.values())

    def largest_run_usd(self) -> float | None:
        costs = [a.cost_usd for a in self.attempts.values() if a.ended_at is not None]
        return max(costs) if costs else None

    def attempts_of(self, key: RunKey) -> list[Attempt]:
        return sorted((a for a in self.attempts.values() if a.key == key), key=lambda a: a.attempt)

    def infra_failures(self, key: RunKey) -> int:
        return sum(1 for a in self.attempts_of(key) if a.outcome == INFRA)

    def open_attempts(self) -> list[Attempt]:
        """Attempts that started and never ended: in flight elsewhere, or abandoned by a crash."""
        return [a for a in self.attempts.values() if a.ended_at is None]
