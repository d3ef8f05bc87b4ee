"""Intervals and verdicts over sessions (report/stats.py, report/verdict.py), the PNG/SVG chart
(report/plot.py): synthetic sessions with a known true difference. Pure and in-process."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from claude_session.report import chart, intervals, plot, stats
from claude_session.report.fetch import Selection, aggregate
from claude_session.report.model import Report, compare, totals
from claude_session.report.render import table, to_csv, to_json
from claude_session.report.samples import SessionCollector
from claude_session.report.units import WIDTH
from claude_session.report.verdict import TOO_FEW, verdict_line
from tests.unit.report_rows import row, ts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rows(sessions: dict[str, tuple[int, float]], seed: int = 1, noise: float = 0.15) -> list[dict[str, Any]]:
    """Per version: (sessions, mean cost per session); every session 2-4 requests, its cost and
    tokens scaled by lognormal noise (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    out = []
    for version, (count, mean_cost) in sessions.items():
        for i in range(count):
            factor = float(rng.lognormal(0.0, noise)) * mean_cost / 0.10  # tokens follow the cost
            requests = 2 + i % 3
            for r in range(requests):
                out.append(
                    row(
                        f"{version}-{i}",
                        version=version,
                        usage=(int(1000 * factor), int(200 * factor), int(20_000 * factor), 0),
                        cost=0.10 * factor / requests,
                        latency=float(rng.lognormal(6.5, 0.2)),
                        start=ts(i % 60, r),
                    )
                )
    return out


def report(data: list[dict[str, Any]], baseline: str | None = "v1", **kwargs: Any) -> Report:
    selection = Selection({})
    collector = SessionCollector()
    groups = aggregate([data], selection, "prompt_version", collector).groups
    result = Report(
        "claude-code",
        "http://127.0.0.1:6006",
        "prompt_version",
        {},
        None,
        None,
        selection.span_filter(),
        groups,
    )
    if baseline:
        result = replace(result, baseline=baseline)
        result = replace(result, comparisons=compare(groups, baseline))
    result = replace(result, **totals(result.groups))
    analysis, warnings = intervals.analysis(collector.samples(), baseline, **kwargs)
    return replace(result, analysis=analysis, warnings=result.warnings + warnings)


def difference(result: Report, metric: str, group: str = "v2") -> stats.Difference:
    assert result.analysis is not None
    return next(d for d in result.analysis.differences if d.metric == metric and d.group == group)


def test_a_true_20_percent_saving_is_called_cheaper() -> None:
    result = report(rows({"v1": (30, 0.10), "v2": (30, 0.08)}))
    cost = difference(result, "cost")
    assert cost.high is not None and cost.low is not None
    assert cost.low < -0.2 < cost.high < 0  # excludes 0, covers the true change
    assert cost.verdict == "lower"
    assert verdict_line(cost).startswith("cheaper: -")
    assert difference(result, "tokens").verdict == "lower"
    assert difference(result, "requests").verdict == "none"  # same 2-4 requests per session
    text = table(result)
    assert "verdicts, v2 vs v1:" in text
    assert text.rstrip("\n").splitlines()[-1].startswith("  ")  # the table ends with the verdicts
    assert all(len(line) <= WIDTH for line in text.splitlines())
    # The group's own value and interval: the mean cost per session, between its bounds.
    assert result.analysis is not None
    v1 = result.analysis.groups["v1"]["cost"]
    assert v1.low is not None and v1.high is not None and v1.value is not None
    assert v1.low < v1.value < v1.high and v1.n == 30
    assert v1.value == pytest.approx(result.groups[0].cost_per_session)


def test_identical_distributions_show_no_detectable_difference() -> None:
    data = rows({"v1": (30, 0.10)}, seed=3) + rows({"v2": (30, 0.10)}, seed=4)
    cost = difference(report(data), "cost")
    assert cost.low is not None and cost.high is not None
    assert cost.low < 0 < cost.high
    assert cost.verdict == "none"
    assert verdict_line(cost).startswith("no detectable difference in cost per session (")


def test_three_sessions_per_group_are_too_few_to_tell() -> None:
    result = report(rows({"v1": (3, 0.10), "v2": (3, 0.08)}, noise=0.4))
    cost = difference(result, "cost")
    assert cost.verdict == "too_few"
    assert verdict_line(cost).startswith(TOO_FEW)
    assert any("v2 vs v1: not enough sessions to tell" in w for w in result.warnings)


def test_one_session_has_no_interval() -> None:
    result = report(rows({"v1": (5, 0.10), "v2": (1, 0.08)}))
    cost = difference(result, "cost")
    assert (cost.low, cost.high, cost.verdict) == (None, None, "too_few")
    assert verdict_line(cost) == f"{TOO_FEW}: cost per session (1 vs 5 sessions with a value)"


@pytest.mark.parametrize(
    ("low", "high", "n", "expected"),
    [
        (-0.3, -0.1, 30, "lower"),
        (0.05, 0.6, 30, "higher"),
        (-0.1, 0.1, 30, "none"),
        (-0.3, 0.25, 30, "too_few"),  # includes 0, half-width 27.5% > 25%
        (-0.1, 0.1, 1, "too_few"),
        (None, None, 30, "too_few"),
    ],
)
def test_the_verdict_rule(low: float | None, high: float | None, n: int, expected: str) -> None:
    assert stats.classify(low, high, n, 30) == expected


def test_success_rate_from_per_session_outcomes() -> None:
    data = rows({"v1": (40, 0.10), "v2": (40, 0.10)})
    outcomes = {f"v1-{i}": i % 2 == 0 for i in range(40)} | {f"v2-{i}": True for i in range(36)}
    result = report(data, outcomes=outcomes)
    assert result.analysis is not None
    assert result.analysis.groups["v1"]["success"].value == pytest.approx(0.5)
    v2 = result.analysis.groups["v2"]["success"]
    assert (v2.value, v2.n) == (1.0, 36)  # sessions without an outcome left out
    success = difference(result, "success")
    assert success.scale == "points" and success.change == pytest.approx(0.5)
    assert success.verdict == "higher"
    assert verdict_line(success).startswith("more successful: +50 points success rate (95% CI +")


def test_the_same_data_prints_the_same_numbers() -> None:
    data = rows({"v1": (30, 0.10), "v2": (30, 0.08)})
    first, second = report(data), report(data)
    assert table(first) == table(second)
    assert to_json(first) == to_json(second)
    assert to_csv(first) == to_csv(second)
    # A group's numbers do not depend on the other groups.
    alone = report([r for r in data if r["session"]["prompt_version"] == "v2"], baseline=None)
    assert first.analysis is not None and alone.analysis is not None
    assert alone.analysis.groups["v2"] == first.analysis.groups["v2"]


def test_json_and_csv_carry_the_intervals() -> None:
    result = report(rows({"v1": (30, 0.10), "v2": (30, 0.08)}))
    text = to_json(result)
    data = json.loads(text)
    assert data["analysis"]["groups"]["v2"]["cost"]["low"] < data["analysis"]["groups"]["v2"]["cost"]["high"]
    assert {d["metric"] for d in data["analysis"]["differences"]} == {
        "cost",
        "tokens",
        "requests",
        "latency_p50",
    }
    assert to_json(Report.from_dict(json.loads(text))) == text
    (v1, v2) = csv.DictReader(io.StringIO(to_csv(result)))
    assert v2["verdict_cost"] == "lower" and v1["verdict_cost"] == ""
    assert float(v2["diff_cost_ci_low"]) < float(v2["diff_cost"]) < float(v2["diff_cost_ci_high"]) < 0
    assert float(v1["cost_ci_low"]) < float(v1["cost_value"]) < float(v1["cost_ci_high"])


def test_5000_sessions_get_an_interval_and_a_verdict_for_every_metric() -> None:
    """The scale bench/report_bench.py times (`stats s`): here only what it computes is checked."""
    rng = np.random.default_rng(0)
    samples = {
        v: stats.sample(
            [f"{v}-{i}" for i in range(2500)],
            cost=rng.lognormal(0, 0.5, 2500),
            tokens=rng.lognormal(10, 0.5, 2500),
            requests=rng.poisson(8, 2500) + 1.0,
            latency_p50=rng.lognormal(6, 0.3, 2500),
        )
        for v in ("v1", "v2")
    }
    analysis = stats.analyse(samples, "v1")
    for group in ("v1", "v2"):
        for metric in ("cost", "tokens", "requests", "latency_p50"):
            interval = analysis.groups[group][metric]
            assert interval.n == 2500
            assert interval.low is not None and interval.high is not None
            assert interval.low <= interval.value <= interval.high  # type: ignore[operator]
    assert {(d.group, d.metric) for d in analysis.differences} == {
        ("v2", metric) for metric in ("cost", "tokens", "requests", "latency_p50")
    }


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_the_picture_has_one_bar_per_group_with_whiskers(tmp_path: Path, suffix: str) -> None:
    result = report(rows({"v1": (10, 0.10), "v2": (10, 0.08), "v3": (10, 0.12)}))
    figure = plot.figure(result)
    for axes in figure.axes:
        assert len(axes.patches) == 3  # one bar per group
        assert len(axes.containers) == 6  # each bar and its error bar
    path = tmp_path / f"report{suffix}"
    chart.write(result, path)
    content = path.read_bytes()
    if suffix == ".png":
        assert content.startswith(PNG_SIGNATURE)
    else:
        text = content.decode()
        assert text.lstrip().startswith("<?xml") and "<svg" in text
        assert sorted(g for g in ("v1", "v2", "v3") if f'id="bar:cost:{g}"' in text) == ["v1", "v2", "v3"]
        assert text.count('id="bar:cost:') == 3
    path.unlink()
    chart.write(result, path)
    assert path.read_bytes() == content  # same report, same file


def _drawn_medians(values: list[float], index: np.ndarray[Any, np.dtype[np.intp]]) -> np.ndarray[Any, Any]:
    ranked = stats._Medians(np.asarray(values, dtype=np.float64), len(index))
    assert ranked.exact  # the counting path, not its np.median fallback
    return ranked.of(index)


@pytest.mark.parametrize(
    "values",
    [
        [4.5],  # n = 1
        [2.0, -1.0],  # n = 2: the mean of both
        [3.1, 0.2, 7.7, 1.5, 9.9, 0.0, 5.25],  # odd n
        [3.1, 0.2, 7.7, 1.5, 9.9, 0.0, 5.25, 2.0],  # even n: two middle values averaged
        [1.0, 3.0, 3.0, 1.0, 2.0, 3.0, 1.0, 1.0, 2.0],  # ties, odd n
        [5.0, 5.0, 1.0, 5.0, 1.0, 2.0],  # ties, even n
        [0.1, 0.2, 0.7, 1e-300, 1.7976931348623157e308, 1.7976931348623157e308],  # overflows to inf
    ],
)
@pytest.mark.parametrize("rows", [1, 5])  # a block of one resample, and of several
def test_the_median_of_each_resample_is_numpys_to_the_bit(values: list[float], rows: int) -> None:
    n = len(values)
    index = np.random.default_rng(n + rows).integers(0, n, size=(rows, n), dtype=np.intp)
    with np.errstate(over="ignore"):  # the two largest doubles' mean: inf, for both
        expected = np.median(np.asarray(values)[index], axis=1)
        got = _drawn_medians(values, index)
    assert got.shape == expected.shape and bool((got == expected).all())
    assert got.tobytes() == expected.tobytes()  # the same bits, not only equal


def test_the_median_of_many_resamples_of_real_looking_latencies_is_numpys_to_the_bit() -> None:
    rng = np.random.default_rng(7)
    for n in (1000, 1001):
        values = np.round(rng.lognormal(6.5, 0.4, n), 1)  # ms to one decimal: many ties
        index = rng.integers(0, n, size=(9, n), dtype=np.intp)
        expected = np.median(values[index], axis=1)
        assert _drawn_medians(list(values), index).tobytes() == expected.tobytes()
    # Every row the same draw: the middle of the sorted values, whatever the row's offset.
    index = np.tile(np.arange(6, dtype=np.intp), (3, 1))
    assert _drawn_medians([6.0, 1.0, 5.0, 2.0, 4.0, 3.0], index).tolist() == [3.5, 3.5, 3.5]


def test_a_column_with_a_negative_zero_is_left_to_numpy() -> None:
    """-0.0 == 0.0, so no rank tells which np.partition puts in the middle: np.median decides."""
    values = np.array([0.0, -0.0, 1.0, -0.0], dtype=np.float64)
    ranked = stats._Medians(values, 4)
    assert not ranked.exact
    index = np.random.default_rng(1).integers(0, 4, size=(4, 4), dtype=np.intp)
    assert ranked.of(index).tobytes() == np.median(values[index], axis=1).tobytes()


def test_the_resamples_are_those_of_the_gather_and_np_median(monkeypatch: pytest.MonkeyPatch) -> None:
    """_resample against the plain computation it replaces, on the same draws: several blocks,
    the last one a single resample (CHUNK made small), a mean and a median column."""
    monkeypatch.setattr(stats, "CHUNK", 20)  # n = 7: blocks of 2 resamples; 5 resamples: 2, 2, 1
    rng = np.random.default_rng(3)
    columns = {
        "cost": (rng.lognormal(0.0, 0.5, 7), "mean"),
        "latency_p50": (np.round(rng.lognormal(6.0, 0.3, 7)), "median"),
    }
    got = stats._resample(columns, 7, np.random.default_rng(11), 5)
    draws = np.random.default_rng(11)
    index = np.concatenate([draws.integers(0, 7, size=(r, 7), dtype=np.intp) for r in (2, 2, 1)])
    assert got["cost"].tobytes() == columns["cost"][0][index].mean(axis=1).tobytes()
    assert got["latency_p50"].tobytes() == np.median(columns["latency_p50"][0][index], axis=1).tobytes()
