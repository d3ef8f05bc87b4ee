"""Read an experiment's ledger (the JSON lines the runner appends) for the report.

Runs: a line `{"event": "record", "record": {...}}` (the runner's own form) or a bare RunRecord
dict; the first record of a planned run (task, variant, repetition) counts, as in the runner's
replay. The budget: a `budget_stop` (or `budget_reached`) event says the budget stopped a
runner; the experiment counts as stopped by it unless every planned run has its record since
(planned: the latest `plan` event of each shard). Any other line shape (other events) is
skipped. A cut-off last line (a write interrupted by a crash) is skipped too; a bad line
anywhere else is an error naming it.
"""

from __future__ import annotations

import json
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.records import RunRecord, RunStatus

BUDGET_EVENTS = ("budget_stop", "budget_reached")
STATUSES = typing.get_args(RunStatus)
REQUIRED = [f.name for f in fields(RunRecord) if f.default is MISSING and f.default_factory is MISSING]
NUMBERS = [f.name for f in fields(RunRecord) if f.type in ("float", "int")]


@dataclass(frozen=True)
class Ledger:
    records: tuple[RunRecord, ...]
    budget_reached: bool
    skipped: int  # lines that were neither a run, a plan nor a budget event
    duplicates: int  # later records of a planned run that already had one


def read_ledger(*paths: Path) -> Ledger:
    """The finished runs of one or more ledgers (several: the shards machines ran apart)."""
    lines: list[tuple[Path, int, str, bool]] = []  # file, line number, text, last line of its file
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ExperimentError(f"--ledger {path}: no such file", exit_code=2) from None
        except (OSError, UnicodeDecodeError) as err:
            raise ExperimentError(f"--ledger {path}: cannot read it ({err})", exit_code=2) from None
        last = max((i for i, line in enumerate(text) if line.strip()), default=-1)
        lines += [(path, i + 1, line, i == last) for i, line in enumerate(text)]
    records: dict[tuple[str, str, int], RunRecord] = {}
    planned: dict[str, int] = {}  # per shard, its latest plan
    stopped = False
    skipped = duplicates = 0
    for path, number, line, is_last in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            if is_last:  # a line cut by a crash mid-write
                skipped += 1
                continue
            raise ExperimentError(f"--ledger {path}: line {number} is not JSON", exit_code=2) from None
        if not isinstance(data, dict):
            skipped += 1
            continue
        event = data.get("event")
        if event in BUDGET_EVENTS:
            stopped = True
        elif event == "plan" and isinstance(data.get("planned"), int):
            planned[str(data.get("shard", "1/1"))] = data["planned"]
        elif (event == "record" and isinstance(data.get("record"), dict)) or (
            event is None and "status" in data
        ):
            record = _record(data["record"] if event == "record" else data, path, number)
            key = (record.task, record.variant, record.repetition)
            duplicates += key in records
            records.setdefault(key, record)
        else:
            skipped += 1
    finished = bool(planned) and len(records) >= sum(planned.values())
    return Ledger(tuple(records.values()), stopped and not finished, skipped, duplicates)


def _record(data: dict[str, Any], path: Path, number: int) -> RunRecord:
    missing = [name for name in REQUIRED if name not in data]
    if missing:
        raise ExperimentError(
            f"--ledger {path}: line {number}: a run without {', '.join(missing)}", exit_code=2
        )
    if data["status"] not in STATUSES:
        raise ExperimentError(
            f"--ledger {path}: line {number}: status {str(data['status'])[:20]!r} "
            f"is not one of {', '.join(STATUSES)}",
            exit_code=2,
        )
    wrong = [n for n in NUMBERS if isinstance(data[n], bool) or not isinstance(data[n], int | float)]
    if wrong:
        raise ExperimentError(
            f"--ledger {path}: line {number}: {', '.join(wrong)} must be numbers", exit_code=2
        )
    return RunRecord.from_dict(data)
