"""The experiment's statistics against independent references: published worked examples
(Wilson, Newcombe), brute-force enumeration (pass@k, pass^k), a hand-worked Holm example,
synthetic experiments with a known truth, and a plain-Python cluster bootstrap written here."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import pytest

from claude_session.experiment import estimators, stats
from claude_session.experiment.records import RunRecord
from claude_session.experiment.report import ExperimentReport, build_experiment_report
from tests.unit.experiment_runs import run, synthetic

Z95 = 1.959963984540054

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
# method 3 (Wilson score, no continuity correction).
WILSON_PUBLISHED = [
    ((81, 263), (0.2553, 0.3662)),
    ((15, 148), (0.0624, 0.1605)),
    ((0, 20), (0.0, 0.1611)),
    ((1, 29), (0.0061, 0.1718)),
]
# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Table II, method 10 (score, no continuity correction).
NEWCOMBE_PUBLISHED = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0)),
    ((10, 10, 0, 10), (0.6075, 1.0)),
]


@pytest.mark.parametrize(("counts", "published"), WILSON_PUBLISHED)
def test_wilson_matches_newcombes_published_intervals(
    counts: tuple[int, int], published: tuple[float, float]
) -> None:
    low, high = estimators.wilson(*counts, Z95)
    assert (round(low, 4), round(high, 4)) == published


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_PUBLISHED)
def test_newcombe_hybrid_score_matches_the_published_examples(
    counts: tuple[int, int, int, int], published: tuple[float, float]
) -> None:
    low, high = estimators.newcombe(*counts, Z95)
    assert (round(low, 4), round(high, 4)) == published


def test_newcombe_p_value_is_where_the_interval_touches_zero() -> None:
    p = estimators.newcombe_p_value(9, 10, 3, 10)
    z = -statistics_normal_quantile(p / 2)
    low, _ = estimators.newcombe(9, 10, 3, 10, z)
    assert abs(low) < 1e-9
    assert estimators.newcombe_p_value(5, 10, 5, 10) == 1.0


def statistics_normal_quantile(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)


def test_pass_at_k_and_pass_hat_k_equal_enumeration_of_every_k_subset() -> None:
    for n in range(1, 8):
        for c in range(n + 1):
            outcomes = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(outcomes, k))
                any_pass = sum(any(s) for s in subsets) / len(subsets)
                all_pass = sum(all(s) for s in subsets) / len(subsets)
                assert estimators.pass_at_k(n, c, k) == pytest.approx(any_pass, abs=1e-12)
                assert estimators.pass_hat_k(n, c, k) == pytest.approx(all_pass, abs=1e-12)


def test_holm_matches_a_hand_worked_example() -> None:
    # sorted: 0.005*4 = 0.02; 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert estimators.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert estimators.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def _report(
    records: list[RunRecord], variants: tuple[str, ...] = ("v1", "v2"), budget: bool = False
) -> ExperimentReport:
    tasks = sorted({r.task for r in records})
    return build_experiment_report(records, tasks, variants, variants[0], budget)


def _comparison(report: ExperimentReport, metric: str, variant: str = "v2") -> stats.Comparison:
    return next(c for c in report.comparisons if c.metric == metric and c.variant == variant)


def test_a_clearly_better_variant_is_called_better_on_success_and_cost() -> None:
    records = synthetic({"v1": 0.3, "v2": 0.9}, tasks=6, repetitions=5, seed=1, cost={"v1": 0.2, "v2": 0.1})
    report = _report(records)
    success, cost = _comparison(report, "success"), _comparison(report, "cost")
    assert (success.verdict, cost.verdict) == ("better", "better")
    assert success.method == "cluster bootstrap over 6 tasks"
    assert success.low is not None and success.low > 0
    assert cost.high is not None and cost.high < 1


def test_equal_rates_are_rarely_called_different_and_intervals_cover_the_truth() -> None:
    """Equal p in 40 synthetic experiments: "better" or "worse" at most about 5% of the time;
    with p=0.8 vs 0.5, the 95% interval covers the true +30 points in most experiments."""
    called = 0
    for seed in range(40):
        report = _report(synthetic({"v1": 0.6, "v2": 0.6}, tasks=8, repetitions=4, seed=seed))
        called += _comparison(report, "success").verdict in ("better", "worse")
    assert called <= 5
    covered = 0
    for seed in range(100, 160):
        c = _comparison(
            _report(synthetic({"v1": 0.5, "v2": 0.8}, tasks=8, repetitions=4, seed=seed)), "success"
        )
        assert c.low is not None and c.high is not None
        covered += c.low <= 0.3 <= c.high
    assert covered >= 0.85 * 60


def _plain_cluster_bootstrap(
    variant: list[list[tuple[float, float]]],
    baseline: list[list[tuple[float, float]]],
    resamples: int,
    seed: int,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A second implementation: loops and Python's `random`. Per resample, draw the tasks with
    replacement, then each drawn task's runs with replacement per group; pooled rate and mean
    cost. Returns the 95% percentile intervals of the rate difference and the cost ratio."""
    rnd = random.Random(seed)
    tasks = len(variant)
    differences, ratios = [], []
    for _ in range(resamples):
        chosen = [rnd.randrange(tasks) for _ in range(tasks)]
        pooled = []
        for group in (variant, baseline):
            drawn = [rnd.choice(group[t]) for t in chosen for _ in group[t]]
            pooled.append((sum(p for p, _ in drawn) / len(drawn), sum(c for _, c in drawn) / len(drawn)))
        differences.append(pooled[0][0] - pooled[1][0])
        ratios.append(pooled[0][1] / pooled[1][1])

    def interval(values: list[float]) -> tuple[float, float]:
        values.sort()
        return values[int(0.025 * len(values))], values[math.ceil(0.975 * len(values)) - 1]

    return interval(differences), interval(ratios)


def test_the_printed_intervals_agree_with_an_independent_cluster_bootstrap() -> None:
    # Tasks of different difficulty and unequal run counts, so that the task level matters.
    rnd = random.Random(7)
    records = []
    for t, (p1, p2, runs) in enumerate(
        [(0.2, 0.6, 4), (0.5, 0.9, 5), (0.1, 0.3, 3), (0.7, 0.8, 6), (0.4, 0.9, 4)]
    ):
        for variant, p in (("v1", p1), ("v2", p2)):
            for repetition in range(1, runs + 1):
                status = "passed" if rnd.random() < p else "failed"
                records.append(run(f"t{t}", variant, repetition, status, rnd.lognormvariate(-2, 0.6)))
    report = _report(records)

    def groups(variant: str) -> list[list[tuple[float, float]]]:
        by_task: dict[str, list[tuple[float, float]]] = {}
        for r in records:
            if r.variant == variant:
                by_task.setdefault(r.task, []).append((1.0 if r.passed else 0.0, r.cost_usd))
        return [by_task[t] for t in sorted(by_task)]

    (d_low, d_high), (r_low, r_high) = _plain_cluster_bootstrap(groups("v2"), groups("v1"), 4000, seed=99)
    success, cost = _comparison(report, "success"), _comparison(report, "cost")
    assert success.low == pytest.approx(d_low, abs=0.04)
    assert success.high == pytest.approx(d_high, abs=0.04)
    assert cost.low == pytest.approx(r_low, abs=0.05)
    assert cost.high == pytest.approx(r_high, abs=0.05)


def test_the_task_is_the_unit_resampled() -> None:
    """Tasks where the variant's effect differs (it fixes some tasks fully and others not at all):
    the cluster bootstrap sees that spread. Shuffling the runs across tasks (per variant) keeps
    every run and the point estimate, removes the task structure, and must narrow the interval;
    a bootstrap of runs that ignored tasks would give the same interval both times."""
    records = []
    for t in range(6):
        helped = t % 2 == 0
        for repetition in range(1, 6):
            records.append(run(f"t{t}", "v1", repetition, "failed"))
            records.append(run(f"t{t}", "v2", repetition, "passed" if helped else "failed"))
    shuffled = []
    rnd = random.Random(5)
    for variant in ("v1", "v2"):
        mine = [r for r in records if r.variant == variant]
        statuses = [r.status for r in mine]
        rnd.shuffle(statuses)
        shuffled += [run(r.task, variant, r.repetition, s) for r, s in zip(mine, statuses, strict=True)]
    structured, flat = _comparison(_report(records), "success"), _comparison(_report(shuffled), "success")
    assert structured.estimate == pytest.approx(flat.estimate)
    assert structured.low is not None and structured.high is not None
    assert flat.low is not None and flat.high is not None
    assert (structured.high - structured.low) > 1.5 * (flat.high - flat.low)


def test_a_single_task_uses_wilson_and_newcombe() -> None:
    records = [run("only", "v1", i, "passed" if i <= 3 else "failed") for i in range(1, 11)]
    records += [run("only", "v2", i, "passed" if i <= 9 else "failed") for i in range(1, 11)]
    report = _report(records)
    success = _comparison(report, "success")
    assert success.method == "Newcombe hybrid score (one task)"
    assert (round(success.low or 0, 4), round(success.high or 0, 4)) == (0.1705, 0.8090)  # Newcombe's (b)
    assert success.verdict == "better"
    base = report.summary("v1").overall
    assert (round(base.success_low or 0, 4), round(base.success_high or 0, 4)) == tuple(
        round(x, 4) for x in estimators.wilson(3, 10, Z95)
    )


def test_holm_adjusts_the_verdicts_of_several_variants() -> None:
    """Single-task comparisons (Newcombe p-values): the adjusted p is Holm's, by hand, and a
    variant that would be 'better' alone is inconclusive among three."""

    def task_runs(variant: str, passes: int) -> list[RunRecord]:
        return [run("only", variant, i, "passed" if i <= passes else "failed") for i in range(1, 21)]

    records = task_runs("v1", 8) + task_runs("v2", 15) + task_runs("v3", 9) + task_runs("v4", 10)
    alone = _report(task_runs("v1", 8) + task_runs("v2", 15))
    assert _comparison(alone, "success").verdict == "better"
    report = _report(records, ("v1", "v2", "v3", "v4"))
    raw = {c.variant: c.p_value for c in report.comparisons if c.metric == "success"}
    assert raw["v2"] is not None and raw["v3"] is not None and raw["v4"] is not None
    assert raw["v2"] < 0.05
    ordered = sorted(raw.values())
    by_hand = [min(1.0, 3 * ordered[0])]
    by_hand.append(max(by_hand[0], min(1.0, 2 * ordered[1])))
    by_hand.append(max(by_hand[1], min(1.0, ordered[2])))
    adjusted = sorted(c.p_holm for c in report.comparisons if c.metric == "success")
    assert adjusted == pytest.approx(by_hand)
    assert _comparison(report, "success", "v2").p_holm == pytest.approx(by_hand[0])
    assert by_hand[0] >= 0.05
    assert _comparison(report, "success", "v2").verdict == "inconclusive"


def test_identical_variants_are_equivalent_within_the_margins() -> None:
    records = []
    for t in range(10):
        for repetition in range(1, 21):
            status = "passed" if repetition <= 10 + t % 3 else "failed"
            for variant in ("v1", "v2"):
                records.append(run(f"t{t}", variant, repetition, status, 0.1 + 0.001 * repetition))
    report = _report(records)
    assert _comparison(report, "success").verdict == "equivalent"
    assert _comparison(report, "cost").verdict == "equivalent"


def test_a_budget_stop_is_inconclusive_whatever_the_data() -> None:
    records = synthetic({"v1": 0.3, "v2": 0.9}, tasks=6, repetitions=5, seed=1)
    report = _report(records, budget=True)
    assert {c.verdict for c in report.comparisons} == {"budget_reached"}
    assert all(c.low is not None for c in report.comparisons)  # the interval is still shown


def test_infrastructure_failures_are_left_out_and_counted() -> None:
    records = synthetic({"v1": 0.5, "v2": 0.5}, tasks=3, repetitions=4, seed=2)
    infra = [run("task-0", "v2", 5, "infra", 0.5), run("task-1", "v1", 5, "infra", 0.25)]
    tasks = ["task-0", "task-1", "task-2"]
    with_infra = build_experiment_report(records + infra, tasks, ["v1", "v2"], "v1", False, repetitions=4)
    without = build_experiment_report(records, tasks, ["v1", "v2"], "v1", False, repetitions=4)
    assert with_infra.infra_excluded == 2
    assert with_infra.summary("v2").overall == replace(without.summary("v2").overall, infra=1)
    assert with_infra.comparisons == without.comparisons
    assert with_infra.spend_usd == pytest.approx(sum(r.cost_usd for r in records) + 0.75)


def test_per_variant_figures_equal_sums_computed_here() -> None:
    records = [
        run(
            "a",
            "v1",
            1,
            "passed",
            0.30,
            split=(0.20, 0.06, 0.04),
            tokens=(100, 10, 600, 300),
            turns=2,
            duration_s=10,
        ),
        run(
            "a",
            "v1",
            2,
            "failed",
            0.10,
            split=(0.10, 0.00, 0.00),
            tokens=(50, 10, 0, 50),
            turns=4,
            duration_s=30,
        ),
        run(
            "b",
            "v1",
            1,
            "passed",
            0.20,
            split=(0.12, 0.05, 0.03),
            tokens=(200, 20, 300, 0),
            turns=3,
            duration_s=20,
        ),
        run(
            "b",
            "v1",
            2,
            "passed",
            0.40,
            split=(0.30, 0.08, 0.02),
            tokens=(10, 5, 900, 90),
            turns=5,
            duration_s=40,
        ),
        run("b", "v1", 3, "infra", 9.00),
    ]
    report = build_experiment_report(records, ["a", "b"], ["v1"], "v1", False, repetitions=2)
    f = report.summary("v1").overall
    assert (f.runs, f.passed, f.infra) == (4, 3, 1)
    assert f.success_rate == pytest.approx(3 / 4)
    assert f.cost_per_run == pytest.approx(1.0 / 4)
    assert f.cost_per_success == pytest.approx(1.0 / 3)
    assert (f.main_per_run, f.subagent_per_run, f.rest_per_run) == pytest.approx(
        (0.72 / 4, 0.19 / 4, 0.09 / 4)
    )
    assert f.cache_read_share == pytest.approx(1800 / (360 + 1800 + 440))
    assert (f.turns, f.duration_s) == pytest.approx((3.5, 25.0))
    # k=2; task a: 1 of 2 passed; task b: 2 of 2 counted runs passed (the infra run left out).
    # pass@2 per task: 1 - C(n-c,2)/C(n,2) = 1 - 0/1 for both; pass^2: C(1,2)/1 = 0 and C(2,2)/1 = 1.
    assert f.pass_at_k == pytest.approx(1.0)
    assert f.pass_hat_k == pytest.approx(0.5)
    assert report.comparisons == ()
