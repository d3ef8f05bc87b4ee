"""Read an experiment's ledger (JSON lines the runner appends) for the report: one RunRecord per
line that has a run's fields; `{"event": "budget_reached"}` says the budget stopped the
experiment; any other line shape (other events) is skipped. A cut-off last line (a write
interrupted by a crash) is skipped too; a bad line anywhere else is an error naming it."""

from __future__ import annotations

import json
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.records import RunRecord, RunStatus

BUDGET_EVENT = "budget_reached"
STATUSES = typing.get_args(RunStatus)
REQUIRED = [f.name for f in fields(RunRecord) if f.default is MISSING and f.default_factory is MISSING]
NUMBERS = [f.name for f in fields(RunRecord) if f.type in ("float", "int")]


@dataclass(frozen=True)
class Ledger:
    records: tuple[RunRecord, ...]
    budget_reached: bool
    skipped: int  # lines that were neither a run nor the budget event


def read_ledger(path: Path) -> Ledger:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ExperimentError(f"--ledger {path}: no such file", exit_code=2) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ExperimentError(f"--ledger {path}: cannot read it ({err})", exit_code=2) from None
    records: list[RunRecord] = []
    budget = False
    skipped = 0
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            if index == last:
                skipped += 1
                continue
            raise ExperimentError(f"--ledger {path}: line {index + 1} is not JSON", exit_code=2) from None
        if isinstance(data, dict) and data.get("event") == BUDGET_EVENT:
            budget = True
        elif isinstance(data, dict) and "session_id" in data and "status" in data:
            records.append(_record(data, path, index + 1))
        else:
            skipped += 1
    return Ledger(tuple(records), budget, skipped)


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
    wrong = [
        n
        for n in NUMBERS
        if n in data and (isinstance(data[n], bool) or not isinstance(data[n], int | float))
    ]
    if wrong:
        raise ExperimentError(
            f"--ledger {path}: line {number}: {', '.join(wrong)} must be numbers", exit_code=2
        )
    return RunRecord.from_dict(data)
