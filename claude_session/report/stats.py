"""Confidence intervals over sessions: each group's per-session figures and their change against
the baseline, by bootstrap resampling of sessions (numpy, vectorised, fixed seed).

The unit is the session, not the request: requests of one session are not independent (one
long session has many expensive requests), so a group is a sample of sessions and every
resample draws whole sessions with replacement. Per metric, each session contributes one value:

- cost: its LiteLLM cost (USD); tokens: all its tokens; requests: its LLM requests;
- latency_p50: the median latency of its requests; the group's figure is the median of those
  over sessions (so it differs from the table's p50 over all requests);
- success: its outcome (True/False), when one is known; sessions without one are left out.

The group's value is the mean over sessions (the median for latency_p50); its 95% interval is
the 2.5th and 97.5th percentiles of that statistic over RESAMPLES resamples (percentile
bootstrap). The change against the baseline is `group / baseline - 1` (relative; success:
`group - baseline`, in percentage points), computed on each pair of independent resamples of
the two groups; its interval the percentiles of those changes.

Verdict rule (`classify`), per metric and compared group:

- `too_few`: either group has fewer than MIN_SESSIONS sessions with a value (no interval), or
  the interval includes 0 and is wider than +/-WIDE (25 points of the baseline): the data can
  neither show a change nor rule out one of a size that matters;
- `lower` / `higher`: the interval excludes 0;
- `none`: the interval includes 0 and is narrower than +/-WIDE (no detectable difference).

Percentile intervals from a handful of sessions are optimistic (the resamples cannot show
variation the few sessions did not): the width rule catches most such cases, not all.

Same data, same numbers: every group's resamples come from `numpy.random.default_rng` seeded
with (SEED, CRC-32 of the group's label, sample size), whatever the other groups are; every
metric of a group is computed on the same resampled sessions (a metric only some sessions
have, such as success, on its own resamples of those).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # numpy is imported where it is used: the package imports with the stdlib alone
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt

    Array: TypeAlias = npt.NDArray[np.float64]
Verdict = Literal["lower", "higher", "none", "too_few"]

SEED = 20_261_124
RESAMPLES = 2_000
LEVEL = 0.95
WIDE = 0.25  # interval half-width (of the baseline, or in rate points) beyond which "too few to tell"
MIN_SESSIONS = 2  # below this, no interval at all


@dataclass(frozen=True)
class Metric:
    label: str  # as printed: "cost per session"
    statistic: Literal["mean", "median"]
    scale: Literal["relative", "points"]  # how a change is expressed


METRICS: dict[str, Metric] = {
    "cost": Metric("cost per session", "mean", "relative"),
    "tokens": Metric("tokens per session", "mean", "relative"),
    "requests": Metric("requests per session", "mean", "relative"),
    "latency_p50": Metric("p50 latency", "median", "relative"),
    "success": Metric("success rate", "mean", "points"),
}


@dataclass
class GroupSample:
    """One group's sessions (ids in order) and, per metric, one value per session (NaN: none)."""

    sessions: list[str | None]
    values: dict[str, Array]

    def with_outcomes(self, outcomes: Mapping[str, bool] | None) -> GroupSample:
        """The same sample with `success` from per-session outcomes (unknown sessions: NaN)."""
        import numpy as np

        if not outcomes:
            return self
        success = np.array(
            [float(outcomes[s]) if s is not None and s in outcomes else math.nan for s in self.sessions],
            dtype=np.float64,
        )
        return GroupSample(self.sessions, {**self.values, "success": success})


@dataclass
class Interval:
    """A group's figure for one metric and its interval; n: the sessions that have a value."""

    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass
class Difference:
    """A group's change against the baseline for one metric (0.25: +25%, or +25 points)."""

    metric: str
    group: str
    baseline: str
    change: float | None
    low: float | None
    high: float | None
    n: int
    baseline_n: int
    scale: str
    verdict: str  # one of Verdict


@dataclass
class Analysis:
    method: str
    level: float
    resamples: int
    seed: int
    wide: float
    groups: dict[str, dict[str, Interval]] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Analysis:
        return cls(
            method=data["method"],
            level=data["level"],
            resamples=data["resamples"],
            seed=data["seed"],
            wide=data["wide"],
            groups={
                g: {m: Interval(**i) for m, i in metrics.items()} for g, metrics in data["groups"].items()
            },
            differences=[Difference(**d) for d in data["differences"]],
        )

    def interval(self, group: str, metric: str) -> Interval | None:
        return self.groups.get(group, {}).get(metric)

    def metrics(self) -> list[str]:
        """The metrics some group has a value for, in METRICS order."""
        return [m for m in METRICS if any(m in g and g[m].n for g in self.groups.values())]


GROUP_THREADS = 2
CHUNK = 50_000  # index entries per block of resamples (~400 KB): stays in the CPU cache


def _resample(
    columns: Mapping[str, tuple[Array, str]], n: int, rng: np.random.Generator, resamples: int
) -> dict[str, Array]:
    """Each column's statistic ("mean" or "median") over `resamples` resamples of its `n` values,
    the same resampled sessions for every column; vectorised, a block of resamples at a time."""
    import numpy as np

    result = {name: np.empty(resamples, dtype=np.float64) for name in columns}
    step = max(1, CHUNK // n)
    medians = {name: _Medians(values, step) for name, (values, kind) in columns.items() if kind == "median"}
    # Gathered into one buffer, not a new array per block: a fresh array of this size can cost more
    # in page faults (malloc hands such blocks back to the system) than the gather itself.
    buffer = np.empty((step, n), dtype=np.float64)
    for first in range(0, resamples, step):
        rows = min(step, resamples - first)
        index = rng.integers(0, n, size=(rows, n), dtype=np.intp)
        for name, (values, _) in columns.items():
            block = result[name][first : first + rows]
            if name in medians:
                block[:] = medians[name].of(index)
            else:  # numpy's pairwise sum depends on the order drawn: no shortcut keeps its last bit
                drawn = np.take(values, index, out=buffer[:rows], mode="clip")  # index is in range
                block[:] = drawn.mean(axis=1)
    return result


class _Medians:
    """Row medians of `values[index]` from counts, equal to `np.median(values[index], axis=1)` to
    the bit, in a fraction of its time: np.median partitions every resample anew, whereas these
    are all drawn from the same n values, so ranking those once leaves a count per rank to take.

    Row r's k-th smallest drawn value is `ordered[j]` for the first rank j at which r's cumulative
    count of drawn ranks exceeds k; the middle one or two of those are then averaged by the same
    `mean` np.median ends with. The sign of a zero is the one thing a rank cannot tell (-0.0 == 0.0
    and np.partition keeps no order among equals): a column with a -0.0, or not finite, is left
    to np.median."""

    def __init__(self, values: Array, rows: int) -> None:
        import numpy as np

        self.values = values
        self.exact = bool(np.isfinite(values).all() and not np.signbit(values[values == 0]).any())
        order = np.argsort(values, kind="stable")
        self.ordered = values[order]
        self.rank = np.empty(len(values), dtype=np.intp)
        self.rank[order] = np.arange(len(values), dtype=np.intp)
        self.ranks = np.empty((rows, len(values)), dtype=np.intp)

    def of(self, index: npt.NDArray[np.intp]) -> Array:
        import numpy as np

        if not self.exact:
            return np.median(self.values[index], axis=1)
        rows, n = index.shape
        starts = np.arange(rows, dtype=np.intp) * n
        ranks = np.take(self.rank, index, out=self.ranks[:rows], mode="clip")
        ranks += starts[:, None]  # row r counts into bins r*n .. r*n + n-1: one bincount per block
        # Over the flattened rows: cumulative[r*n + j] = r*n + (row r's draws of rank <= j).
        cumulative = np.bincount(ranks.ravel(), minlength=rows * n)
        np.cumsum(cumulative, out=cumulative)
        middle = [(n - 1) // 2] if n % 2 else [n // 2 - 1, n // 2]  # np.median's kth
        found = [np.searchsorted(cumulative, starts + k, side="right") - starts for k in middle]
        medians: Array = self.ordered[np.stack(found, axis=1)].mean(axis=1)  # as np.median: 1 or 2 values
        return medians


def _rng(seed: int, label: str, n: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8")), n])


def _bounds(values: Array, level: float) -> tuple[float | None, float | None]:
    import numpy as np

    finite = values[np.isfinite(values)]
    if len(finite) < len(values) * 0.5:  # most resamples undefined (e.g. a baseline of zero)
        return None, None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def classify(low: float | None, high: float | None, n: int, baseline_n: int, wide: float = WIDE) -> Verdict:
    """The verdict rule (module docstring)."""
    if low is None or high is None or min(n, baseline_n) < MIN_SESSIONS:
        return "too_few"
    if high < 0:
        return "lower"
    if low > 0:
        return "higher"
    return "too_few" if (high - low) / 2 > wide else "none"


def analyse(
    samples: Mapping[str, GroupSample],
    baseline: str | None = None,
    outcomes: Mapping[str, bool] | None = None,
    *,
    seed: int = SEED,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    wide: float = WIDE,
) -> Analysis:
    """Intervals per group (keyed by label) and metric, and differences against `baseline`.

    `outcomes`: per session id, whether it succeeded (optional; gives the success rate).
    """
    analysis = Analysis("percentile bootstrap over sessions", level, resamples, seed, wide)
    draws: dict[str, dict[str, Array]] = {}

    def one(label: str) -> tuple[dict[str, Interval], dict[str, Array]]:
        return _group(label, samples[label].with_outcomes(outcomes), seed, resamples, level)

    # Each group draws from its own generator (seeded by its label), so the groups can run side by
    # side: numpy's gathers and reductions let go of the GIL, and a second core halves the wait.
    with ThreadPoolExecutor(max_workers=GROUP_THREADS) as pool:
        for label, (intervals, drawn) in zip(samples, pool.map(one, samples), strict=True):
            analysis.groups[label], draws[label] = intervals, drawn
    if baseline is None or baseline not in samples:
        return analysis
    base = analysis.groups[baseline]
    for label in samples:
        if label == baseline:
            continue
        for metric, spec in METRICS.items():
            ours, theirs = analysis.groups[label].get(metric), base.get(metric)
            if ours is None or theirs is None or not ours.n or not theirs.n:
                continue
            analysis.differences.append(
                _difference(metric, spec, label, baseline, ours, theirs, draws, level, wide)
            )
    return analysis


def _group(
    label: str, sample: GroupSample, seed: int, resamples: int, level: float
) -> tuple[dict[str, Interval], dict[str, Array]]:
    import numpy as np

    intervals: dict[str, Interval] = {}
    draws: dict[str, Array] = {}
    n = len(sample.sessions)
    shared: dict[str, tuple[Array, str]] = {}  # metrics every session has a value for
    for position, (metric, spec) in enumerate(METRICS.items()):
        column = sample.values.get(metric)
        if column is None:
            continue
        values = column[np.isfinite(column)]
        if len(values) == 0:
            continue
        value = float(np.median(values) if spec.statistic == "median" else values.mean())
        intervals[metric] = Interval(value, None, None, len(values))
        if len(values) < MIN_SESSIONS:
            continue
        if len(values) == n:
            shared[metric] = (values, spec.statistic)
        else:  # a subset of the sessions (e.g. those with an outcome): resampled on its own
            rng = _rng(seed + 1 + position, label, len(values))
            draws.update(_resample({metric: (values, spec.statistic)}, len(values), rng, resamples))
    if shared:
        draws.update(_resample(shared, n, _rng(seed, label, n), resamples))
    for metric, drawn in draws.items():
        intervals[metric].low, intervals[metric].high = _bounds(drawn, level)
    return intervals, draws


def _difference(
    metric: str,
    spec: Metric,
    label: str,
    baseline: str,
    ours: Interval,
    theirs: Interval,
    draws: Mapping[str, Mapping[str, Array]],
    level: float,
    wide: float,
) -> Difference:
    import numpy as np

    change: float | None = None
    low = high = None
    if ours.value is not None and theirs.value is not None:
        if spec.scale == "points":
            change = ours.value - theirs.value
        elif theirs.value:
            change = ours.value / theirs.value - 1.0
    a, b = draws[label].get(metric), draws[baseline].get(metric)
    if a is not None and b is not None and change is not None:
        if spec.scale == "points":
            low, high = _bounds(a - b, level)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                low, high = _bounds(a / b - 1.0, level)
    verdict = classify(low, high, ours.n, theirs.n, wide)
    return Difference(metric, label, baseline, change, low, high, ours.n, theirs.n, spec.scale, verdict)


def sample(sessions: Sequence[str | None], **values: Sequence[float]) -> GroupSample:
    """A GroupSample from plain sequences (tests, the benchmark, callers without numpy at hand)."""
    import numpy as np

    return GroupSample(list(sessions), {k: np.asarray(v, dtype=np.float64) for k, v in values.items()})
