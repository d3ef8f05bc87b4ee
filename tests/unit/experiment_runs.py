"""RunRecords for the experiment report's unit tests: one helper, and synthetic experiments with
a known truth (each run passes with a known probability, drawn from a seeded Python `random`)."""

from __future__ import annotations

import random
from collections.abc import Mapping

from claude_session.experiment.records import RunRecord, RunStatus


def run(
    task: str,
    variant: str,
    repetition: int,
    status: RunStatus = "passed",
    cost: float = 0.1,
    *,
    experiment: str = "exp",
    split: tuple[float, float, float] | None = None,  # main, sub-agents, rest
    tokens: tuple[int, int, int, int] = (100, 50, 800, 100),  # input, output, cache read, cache write
    turns: int = 3,
    duration_s: float = 20.0,
) -> RunRecord:
    main, sub, rest = split if split is not None else (cost, 0.0, 0.0)
    return RunRecord(
        experiment=experiment,
        task=task,
        variant=variant,
        repetition=repetition,
        attempt=1,
        session_id=f"{experiment}-{task}-{variant}-{repetition}",
        claude_session_id=f"00000000-0000-4000-8000-{repetition:012d}",
        status=status,
        cost_usd=cost,
        cost_main_usd=main,
        cost_subagent_usd=sub,
        cost_rest_usd=rest,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_read_tokens=tokens[2],
        cache_write_tokens=tokens[3],
        requests=turns,
        turns=turns,
        duration_s=duration_s,
        started_at="2026-12-04T10:00:00+00:00",
        ended_at="2026-12-04T10:00:20+00:00",
        result_text=f"{variant} on {task}",
        check_exit_code=0 if status == "passed" else 1,
    )


def synthetic(
    rates: Mapping[str, float],
    tasks: int,
    repetitions: int,
    seed: int,
    cost: Mapping[str, float] | None = None,
) -> list[RunRecord]:
    """Every variant on every task, `repetitions` times; a run passes with its variant's rate.
    Costs: lognormal around the variant's `cost` (default 0.1 USD)."""
    rnd = random.Random(seed)
    records = []
    for t in range(tasks):
        for variant, rate in rates.items():
            for repetition in range(1, repetitions + 1):
                status: RunStatus = "passed" if rnd.random() < rate else "failed"
                price = (cost or {}).get(variant, 0.1) * rnd.lognormvariate(0, 0.3)
                records.append(run(f"task-{t}", variant, repetition, status, price))
    return records
