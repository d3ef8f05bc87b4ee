"""Each variant against the baseline: the success-rate difference and the cost ratio, with
intervals, p-values, Holm's adjustment and a verdict per metric.

Tasks are the unit of pairing. A comparison uses the tasks on which both the variant and the
baseline have counted runs (runs with status "infra" never count).

- Success rate, several tasks: the difference variant - baseline of the pooled success rates
  (passes / runs), in points; its interval is the percentile interval of that difference over
  RESAMPLES cluster-bootstrap resamples (experiment/bootstrap.py: tasks drawn with replacement,
  the same draw for both groups; each drawn task's runs redrawn with replacement per group);
  its p-value is 2 * min(share of resampled differences <= 0, share >= 0), capped at 1.
- Success rate, a single task: Newcombe's hybrid score interval for the difference (from the two
  Wilson intervals); its p-value is the smallest two-sided level at which that interval
  excludes 0 (experiment/estimators.py).
- Cost: the ratio of means (variant's mean cost per run / baseline's), with the same cluster
  bootstrap (it degenerates to a bootstrap of runs with one task); p-value as above against a
  ratio of 1. Cost is heavy-tailed: a ratio of means with a resampled interval, not a t-test.
- Several variants: per metric, the p-values of all the comparisons against the baseline are
  adjusted with Holm's step-down method (estimators.holm); the verdict uses the adjusted one.
  The printed interval is the unadjusted LEVEL interval.

Verdict per metric and variant, in this order:
- "budget_reached" (printed "inconclusive: budget reached"): the runner stopped the experiment
  at its budget, so the planned sample is incomplete and no difference, or its absence, is
  claimed; the interval is still shown;
- "inconclusive": no p-value (fewer than MIN_RUNS counted runs on the paired tasks in either
  group, or a baseline that cost nothing);
- "better" / "worse": Holm-adjusted p < ALPHA (success: higher is better; cost: lower is better);
- "equivalent": the whole interval lies within the margin (SUCCESS_MARGIN points around 0, or a
  ratio within 1 +/- COST_MARGIN);
- "inconclusive" otherwise: the data can neither show a difference nor rule out one that matters.

Same data, same numbers: each comparison's generator is seeded from (SEED, variant, baseline).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from claude_session.experiment import estimators
from claude_session.experiment.bootstrap import (
    TaskRuns,
    cluster_resample,
    percentile_interval,
    rng_for,
    two_sided_p,
)

Verdict = Literal["better", "worse", "equivalent", "inconclusive", "budget_reached"]
MetricName = Literal["success", "cost"]

SEED = 20_261_204
RESAMPLES = 4_000
LEVEL = 0.95
ALPHA = 0.05
SUCCESS_MARGIN = 0.10  # equivalence margin for the success rate: +/-10 points
COST_MARGIN = 0.10  # equivalence margin for cost per run: within +/-10% of the baseline's
MIN_RUNS = 2  # counted runs per group, on the paired tasks, below which no verdict


@dataclass(frozen=True)
class Comparison:
    """One metric of one variant against the baseline.

    success: `estimate`, `low`, `high` are differences in rate (0.25 = +25 points);
    cost: they are ratios of mean cost per run (0.8 = 20% cheaper).
    """

    metric: MetricName
    variant: str
    baseline: str
    estimate: float | None
    low: float | None
    high: float | None
    p_value: float | None
    p_holm: float | None
    verdict: Verdict
    method: str
    tasks: int  # paired tasks
    runs: int  # the variant's counted runs on them
    baseline_runs: int


@dataclass(frozen=True)
class _Raw:
    metric: MetricName
    variant: str
    estimate: float | None
    interval: tuple[float, float] | None
    p_value: float | None
    method: str
    tasks: int
    runs: int
    baseline_runs: int


def compare(
    runs: Mapping[str, Mapping[str, TaskRuns]],
    variants: Sequence[str],
    baseline: str,
    tasks: Sequence[str],
    *,
    budget_reached: bool = False,
    seed: int = SEED,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> tuple[Comparison, ...]:
    """Every variant but the baseline against it, success then cost (`runs[variant][task]`)."""
    raws: list[_Raw] = []
    for variant in variants:
        if variant != baseline:
            raws += _pair(
                runs.get(variant, {}),
                runs.get(baseline, {}),
                variant,
                baseline,
                tasks,
                seed,
                resamples,
                level,
            )
    adjusted: dict[tuple[str, str], float] = {}
    for metric in ("success", "cost"):
        family = [r for r in raws if r.metric == metric and r.p_value is not None]
        for raw, p in zip(
            family, estimators.holm([r.p_value for r in family if r.p_value is not None]), strict=True
        ):
            adjusted[(metric, raw.variant)] = p
    return tuple(_finish(r, baseline, adjusted.get((r.metric, r.variant)), budget_reached) for r in raws)


def _pair(
    ours: Mapping[str, TaskRuns],
    theirs: Mapping[str, TaskRuns],
    variant: str,
    baseline: str,
    tasks: Sequence[str],
    seed: int,
    resamples: int,
    level: float,
) -> list[_Raw]:
    paired = [t for t in tasks if t in ours and t in theirs and ours[t].passed and theirs[t].passed]
    a = [ours[t] for t in paired]
    b = [theirs[t] for t in paired]
    n_a, n_b = sum(len(t.passed) for t in a), sum(len(t.passed) for t in b)
    counts = (len(paired), n_a, n_b)
    if min(n_a, n_b) < MIN_RUNS:
        method = f"fewer than {MIN_RUNS} counted runs on the tasks both ran"
        return [_Raw(m, variant, None, None, None, method, *counts) for m in ("success", "cost")]
    rate_a, rate_b = sum(sum(t.passed) for t in a) / n_a, sum(sum(t.passed) for t in b) / n_b
    mean_a, mean_b = sum(sum(t.cost) for t in a) / n_a, sum(sum(t.cost) for t in b) / n_b
    draws = cluster_resample([a, b], resamples, rng_for(seed, variant, baseline))
    bootstrap = (
        f"cluster bootstrap over {len(paired)} tasks" if len(paired) > 1 else "bootstrap of runs (one task)"
    )
    if len(paired) == 1:
        s_a, s_b = round(sum(a[0].passed)), round(sum(b[0].passed))
        z = estimators.z_for(level)
        success = _Raw(
            "success",
            variant,
            rate_a - rate_b,
            estimators.newcombe(s_a, n_a, s_b, n_b, z),
            estimators.newcombe_p_value(s_a, n_a, s_b, n_b),
            "Newcombe hybrid score (one task)",
            *counts,
        )
    else:
        difference = draws[0].success_rate - draws[1].success_rate
        success = _Raw(
            "success",
            variant,
            rate_a - rate_b,
            percentile_interval(difference, level),
            two_sided_p(difference, 0.0),
            bootstrap,
            *counts,
        )
    if mean_b <= 0:
        cost = _Raw("cost", variant, None, None, None, "the baseline cost nothing: no ratio", *counts)
    else:
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = draws[0].cost_per_run / draws[1].cost_per_run
        cost = _Raw(
            "cost",
            variant,
            mean_a / mean_b,
            percentile_interval(ratio, level),
            two_sided_p(ratio, 1.0),
            bootstrap,
            *counts,
        )
    return [success, cost]


def _finish(raw: _Raw, baseline: str, p_holm: float | None, budget_reached: bool) -> Comparison:
    low, high = raw.interval if raw.interval is not None else (None, None)
    verdict = _verdict(raw, low, high, p_holm, budget_reached)
    return Comparison(
        raw.metric,
        raw.variant,
        baseline,
        raw.estimate,
        low,
        high,
        raw.p_value,
        p_holm,
        verdict,
        raw.method,
        raw.tasks,
        raw.runs,
        raw.baseline_runs,
    )


def _verdict(raw: _Raw, low: float | None, high: float | None, p_holm: float | None, budget: bool) -> Verdict:
    if budget:
        return "budget_reached"
    if p_holm is None or raw.estimate is None or low is None or high is None:
        return "inconclusive"
    null, margin = (0.0, SUCCESS_MARGIN) if raw.metric == "success" else (1.0, COST_MARGIN)
    if p_holm < ALPHA:
        higher = raw.estimate > null
        good = higher if raw.metric == "success" else not higher
        return "better" if good else "worse"
    if null - margin <= low and high <= null + margin:
        return "equivalent"
    return "inconclusive"
