"""The cluster bootstrap over tasks (numpy, vectorised, seeded): tasks are the unit of pairing.

One resample: draw the m tasks with replacement (the same draw for every group compared, so a
comparison stays paired by task); then, within each drawn task, draw that task's runs with
replacement, separately per group (each group keeps its own number of runs on the task). A
group's statistics on the resample are pooled over the drawn runs: its success rate is
passes / runs, its cost per run total cost / runs (a ratio of sums, so a task with more runs
weighs more, as in the point estimate).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt

    Array: TypeAlias = npt.NDArray[np.float64]

CHUNK = 400_000  # drawn runs per block of resamples: bounds the memory of one block


@dataclass(frozen=True)
class TaskRuns:
    """One group's counted runs on one task: per run, passed (1/0) and cost (USD)."""

    passed: tuple[float, ...]
    cost: tuple[float, ...]


@dataclass(frozen=True)
class Draws:
    """One group's statistics over the resamples."""

    success_rate: Array
    cost_per_run: Array


def rng_for(seed: int, *labels: str) -> np.random.Generator:
    """A generator determined by the seed and the labels alone (same data, same numbers)."""
    import numpy as np

    return np.random.default_rng([seed, *(zlib.crc32(label.encode("utf-8")) for label in labels)])


def cluster_resample(
    groups: Sequence[Sequence[TaskRuns]], resamples: int, rng: np.random.Generator
) -> list[Draws]:
    """Draws per group; `groups[g][t]` is group g's runs on task t (same tasks, each non-empty)."""
    import numpy as np

    tasks = len(groups[0])
    if tasks == 0 or any(len(g) != tasks for g in groups):
        raise ValueError("every group needs runs on the same, non-empty list of tasks")
    padded = [_padded(group) for group in groups]
    widest = max(values.shape[1] for values, _ in padded)
    out = [(np.empty(resamples), np.empty(resamples)) for _ in groups]
    step = max(1, CHUNK // (tasks * widest * len(groups)))
    for first in range(0, resamples, step):
        rows = min(step, resamples - first)
        chosen = rng.integers(0, tasks, size=(rows, tasks))
        for (values, counts), (rate, cost) in zip(padded, out, strict=True):
            width = values.shape[1]
            n = counts[chosen]  # (rows, tasks): runs of each drawn task
            picks = (rng.random((rows, tasks, width)) * n[..., None]).astype(np.intp)
            keep = np.arange(width) < n[..., None]
            drawn = values[chosen[..., None], picks]  # (rows, tasks, width, 2)
            sums = (drawn * keep[..., None]).sum(axis=(1, 2))
            total = n.sum(axis=1)
            rate[first : first + rows] = sums[:, 0] / total
            cost[first : first + rows] = sums[:, 1] / total
    return [Draws(rate, cost) for rate, cost in out]


def _padded(group: Sequence[TaskRuns]) -> tuple[np.ndarray, np.ndarray]:
    """(tasks, widest, 2) values (passed, cost), zero-padded, and the run count per task."""
    import numpy as np

    counts = np.array([len(t.passed) for t in group], dtype=np.intp)
    if (counts == 0).any():
        raise ValueError("a task without runs cannot be resampled")
    values = np.zeros((len(group), int(counts.max()), 2))
    for index, task in enumerate(group):
        values[index, : len(task.passed), 0] = task.passed
        values[index, : len(task.cost), 1] = task.cost
    return values, counts


def percentile_interval(values: Array, level: float) -> tuple[float, float] | None:
    """The percentile interval of the finite values; None when most resamples are undefined."""
    import numpy as np

    finite = values[np.isfinite(values)]
    if len(finite) < len(values) / 2:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def two_sided_p(values: Array, null: float) -> float:
    """2 * min(share <= null, share >= null) of the finite resampled values, capped at 1."""
    import numpy as np

    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return 1.0
    below = float(np.mean(finite <= null))
    above = float(np.mean(finite >= null))
    return min(1.0, 2 * min(below, above))
