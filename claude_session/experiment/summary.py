"""Per variant, overall and per task: the figures a user reads (no comparison, see stats.py).

Over a variant's counted runs (status "infra" excluded and counted apart):
- success rate: passes / runs, with its LEVEL interval: Wilson for one task (and per task
  cell), the cluster bootstrap over tasks (bootstrap.py) for several;
- pass@k and pass^k (k = the repetitions): the unbiased estimators per task
  (estimators.pass_at_k / pass_hat_k), averaged over the tasks that have at least k runs;
- cost per run (mean, with the cluster-bootstrap interval), cost per success (total cost /
  passes), the mean cost per run of the main loop, the sub-agents and the rest;
- turns and duration: means per run;
- cache-read share: cache-read tokens / all input tokens (input + cache read + cache write).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from claude_session.experiment import estimators
from claude_session.experiment.bootstrap import TaskRuns, cluster_resample, percentile_interval, rng_for
from claude_session.experiment.records import RunRecord


@dataclass(frozen=True)
class Figures:
    runs: int  # counted runs
    infra: int  # runs left out: infrastructure failures
    passed: int
    success_rate: float | None
    success_low: float | None
    success_high: float | None
    pass_at_k: float | None
    pass_hat_k: float | None
    k_tasks: int  # tasks with at least k counted runs (what pass@k and pass^k average over)
    cost_usd: float  # total over the counted runs
    cost_per_run: float | None
    cost_low: float | None
    cost_high: float | None
    cost_per_success: float | None
    main_per_run: float | None
    subagent_per_run: float | None
    rest_per_run: float | None
    turns: float | None
    duration_s: float | None
    cache_read_share: float | None


def task_runs(records: Sequence[RunRecord]) -> TaskRuns:
    counted = [r for r in records if r.counted]
    return TaskRuns(tuple(1.0 if r.passed else 0.0 for r in counted), tuple(r.cost_usd for r in counted))


def figures(
    by_task: Mapping[str, Sequence[RunRecord]],
    k: int,
    *,
    level: float,
    seed: int,
    resamples: int,
    label: str,
) -> Figures:
    """One variant's figures over the tasks in `by_task` (one entry: a per-task cell)."""
    everything = [r for records in by_task.values() for r in records]
    counted = [r for r in everything if r.counted]
    n = len(counted)
    passed = sum(r.passed for r in counted)
    cost = sum(r.cost_usd for r in counted)
    with_runs = {t: task_runs(rs) for t, rs in by_task.items() if any(r.counted for r in rs)}
    success_interval, cost_interval = _intervals(with_runs, passed, n, level, seed, resamples, label)
    per_task_k = [(len(t.passed), round(sum(t.passed))) for t in with_runs.values() if len(t.passed) >= k]
    inputs = sum(r.input_tokens + r.cache_read_tokens + r.cache_write_tokens for r in counted)

    def mean(values: Sequence[float]) -> float | None:
        return sum(values) / len(values) if values else None

    return Figures(
        runs=n,
        infra=len(everything) - n,
        passed=passed,
        success_rate=passed / n if n else None,
        success_low=success_interval[0] if success_interval else None,
        success_high=success_interval[1] if success_interval else None,
        pass_at_k=mean([estimators.pass_at_k(m, c, k) for m, c in per_task_k]) if k > 0 else None,
        pass_hat_k=mean([estimators.pass_hat_k(m, c, k) for m, c in per_task_k]) if k > 0 else None,
        k_tasks=len(per_task_k),
        cost_usd=cost,
        cost_per_run=cost / n if n else None,
        cost_low=cost_interval[0] if cost_interval else None,
        cost_high=cost_interval[1] if cost_interval else None,
        cost_per_success=cost / passed if passed else None,
        main_per_run=mean([r.cost_main_usd for r in counted]),
        subagent_per_run=mean([r.cost_subagent_usd for r in counted]),
        rest_per_run=mean([r.cost_rest_usd for r in counted]),
        turns=mean([float(r.turns) for r in counted]),
        duration_s=mean([r.duration_s for r in counted]),
        cache_read_share=sum(r.cache_read_tokens for r in counted) / inputs if inputs else None,
    )


def _intervals(
    with_runs: Mapping[str, TaskRuns],
    passed: int,
    n: int,
    level: float,
    seed: int,
    resamples: int,
    label: str,
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """(success, cost per run) intervals: Wilson and a run bootstrap for one task, the cluster
    bootstrap for several; none below two runs."""
    if n < 2:
        return (estimators.wilson(passed, n, estimators.z_for(level)) if n else None), None
    draws = cluster_resample([list(with_runs.values())], resamples, rng_for(seed, label))[0]
    success = (
        estimators.wilson(passed, n, estimators.z_for(level))
        if len(with_runs) == 1
        else percentile_interval(draws.success_rate, level)
    )
    return success, percentile_interval(draws.cost_per_run, level)
