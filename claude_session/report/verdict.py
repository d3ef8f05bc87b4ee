"""The words for report/stats.py's numbers: per-group intervals and one verdict line per metric
("cheaper: -18% cost per session (95% CI -25% to -11%)"), for the table and the CSV columns."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from claude_session.report import units
from claude_session.report.model import Report
from claude_session.report.stats import METRICS, Analysis, Difference, Interval

# Per metric: (word when lower, word when higher) against the baseline.
WORDS: dict[str, tuple[str, str]] = {
    "cost": ("cheaper", "more expensive"),
    "tokens": ("fewer tokens", "more tokens"),
    "requests": ("fewer requests", "more requests"),
    "latency_p50": ("faster", "slower"),
    "success": ("less successful", "more successful"),
}
SHORT: dict[str, str] = {
    "cost": "cost",
    "tokens": "tokens",
    "requests": "requests",
    "latency_p50": "p50 latency",
    "success": "success",
}
TOO_FEW = "too few sessions to tell"


def _per_session(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


FORMATS: dict[str, Callable[[float | None], str]] = {
    "cost": units.usd,
    "tokens": units.count,
    "requests": _per_session,
    "latency_p50": units.millis,
    "success": _rate,
}


def change(value: float | None, scale: str) -> str:
    """+25%, -3.2%, or +12 points (success rate)."""
    if value is None:
        return "n/a"
    if scale == "points":
        return f"{value * 100:+.0f} points"
    pct = value * 100
    return f"{pct:+.1f}%" if abs(pct) < 9.95 else f"{pct:+.0f}%"


def verdict_line(d: Difference, level: float = 0.95) -> str:
    """One line: what the change is, or that there is none to see, or that the data cannot tell."""
    label = METRICS[d.metric].label
    ci = f"{level * 100:.0f}% CI {change(d.low, d.scale)} to {change(d.high, d.scale)}"
    if d.low is None or d.high is None:
        return f"{TOO_FEW}: {label} ({d.n} vs {d.baseline_n} sessions with a value)"
    if d.verdict == "too_few":
        return f"{TOO_FEW}: {label} {change(d.change, d.scale)} ({ci})"
    if d.verdict == "none":
        return f"no detectable difference in {label} ({change(d.change, d.scale)}, {ci})"
    word = WORDS[d.metric][0 if d.verdict == "lower" else 1]
    return f"{word}: {change(d.change, d.scale)} {label} ({ci})"


def _interval(metric: str, interval: Interval) -> str:
    fmt = FORMATS[metric]
    if interval.low is None or interval.high is None:
        return f"{SHORT[metric]} {fmt(interval.value)}"
    return f"{SHORT[metric]} {fmt(interval.value)} ({fmt(interval.low)} to {fmt(interval.high)})"


def _joined(head: str, parts: list[str], width: int) -> list[str]:
    """`head` then the parts separated by "; ", wrapped between parts, never inside one."""
    result: list[str] = []
    line = head
    for index, part in enumerate(parts):
        text = part + (";" if index < len(parts) - 1 else "")
        if line.strip() and not line.endswith(": ") and len(line) + 1 + len(text) > width:
            result.append(line)
            line = "      " + text
        else:
            line += ("" if line.endswith(": ") else " ") + text
    return [*result, line]


def lines(report: Report, width: int = units.WIDTH) -> list[str]:
    """The intervals of the groups shown, then the verdicts of each group against the baseline."""
    analysis: Analysis | None = report.analysis
    if analysis is None or not analysis.groups:
        return []
    shown = [g.label for g in report.groups if g.label in analysis.groups]
    level = f"{analysis.level * 100:.0f}%"
    out = textwrap.wrap(
        f"per session, {level} intervals ({analysis.method}, {analysis.resamples:,} resamples, "
        f"seed {analysis.seed}; latency: the median of the sessions' median latencies):",
        width,
        subsequent_indent="  ",
    )
    for label in shown:
        intervals = analysis.groups[label]
        sessions = max((i.n for i in intervals.values()), default=0)
        parts = [_interval(m, intervals[m]) for m in METRICS if m in intervals]
        out += _joined(f"  {label}, {sessions:,} session{'' if sessions == 1 else 's'}: ", parts, width)
    for label in shown:
        differences = [d for d in analysis.differences if d.group == label]
        if not differences:
            continue
        out.append(f"verdicts, {label} vs {differences[0].baseline}:")
        for d in differences:
            out += textwrap.wrap(
                verdict_line(d, analysis.level), width, initial_indent="  ", subsequent_indent="    "
            )
    return out


def csv_fields(report: Report) -> list[str]:
    if report.analysis is None:
        return []
    names = [f"{m}_{part}" for m in report.analysis.metrics() for part in ("value", "ci_low", "ci_high")]
    if report.baseline:
        names += [
            f"{prefix}_{m}{suffix}"
            for m in report.analysis.metrics()
            for prefix, suffix in (("diff", ""), ("diff", "_ci_low"), ("diff", "_ci_high"), ("verdict", ""))
        ]
    return names


def csv_values(report: Report, label: str) -> dict[str, Any]:
    """The interval columns of one group's CSV row (empty for the baseline's own differences)."""
    if report.analysis is None:
        return {}
    row: dict[str, Any] = {}
    for metric, interval in report.analysis.groups.get(label, {}).items():
        row.update(
            {
                f"{metric}_value": interval.value,
                f"{metric}_ci_low": interval.low,
                f"{metric}_ci_high": interval.high,
            }
        )
    for d in report.analysis.differences:
        if d.group == label:
            row.update(
                {
                    f"diff_{d.metric}": d.change,
                    f"diff_{d.metric}_ci_low": d.low,
                    f"diff_{d.metric}_ci_high": d.high,
                    f"verdict_{d.metric}": d.verdict,
                }
            )
    return row
