"""An ExperimentReport as text: a table that fits WIDTH columns (variants as columns, in blocks
when there are many; long names clipped), JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields

from claude_session.experiment.report import ExperimentReport
from claude_session.experiment.stats import Comparison
from claude_session.experiment.summary import Figures
from claude_session.report.units import clip, usd

WIDTH = 100
LABEL = 22  # the row-name column
COLUMN = 19  # one variant's column (a space included)
METRIC_LABELS = {"success": "success rate", "cost": "cost per run"}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _interval(low: float | None, high: float | None, fmt: Callable[[float | None], str]) -> str:
    """`87%-100%`, or `-` without an interval."""
    return "-" if low is None or high is None else f"{fmt(low)}-{fmt(high)}"


def _rows(k: int) -> list[tuple[str, Callable[[Figures], str]]]:
    return [
        ("runs counted", lambda f: f"{f.runs:,}"),
        ("  passed", lambda f: f"{f.passed:,}"),
        ("  infra (left out)", lambda f: f"{f.infra:,}"),
        ("success rate", lambda f: percent(f.success_rate)),
        ("  interval", lambda f: _interval(f.success_low, f.success_high, percent)),
        (f"pass@{k}", lambda f: percent(f.pass_at_k)),
        (f"pass^{k}", lambda f: percent(f.pass_hat_k)),
        ("cost per run", lambda f: usd(f.cost_per_run)),
        ("  interval", lambda f: _interval(f.cost_low, f.cost_high, usd)),
        ("  main loop", lambda f: usd(f.main_per_run)),
        ("  sub-agents", lambda f: usd(f.subagent_per_run)),
        ("  rest", lambda f: usd(f.rest_per_run)),
        ("cost per success", lambda f: usd(f.cost_per_success)),
        ("cost of counted runs", lambda f: usd(f.cost_usd)),
        ("turns per run", lambda f: _number(f.turns)),
        ("duration per run", lambda f: _seconds(f.duration_s)),
        ("cache-read share", lambda f: percent(f.cache_read_share)),
    ]


def _blocks(names: Sequence[str]) -> list[list[str]]:
    per_block = max(1, (WIDTH - LABEL) // COLUMN)
    return [list(names[i : i + per_block]) for i in range(0, len(names), per_block)]


def _cell(text: str) -> str:
    return clip(text, COLUMN - 1).rjust(COLUMN - 1)


def _variant_table(report: ExperimentReport) -> list[str]:
    out: list[str] = []
    for block in _blocks(report.variants):
        heads = [name + (" (base)" if name == report.baseline else "") for name in block]
        out.append("".ljust(LABEL) + " ".join(_cell(h) for h in heads))
        for label, value in _rows(report.k):
            out.append(
                clip(label, LABEL - 1).ljust(LABEL)
                + " ".join(_cell(value(report.summary(n).overall)) for n in block)
            )
        out.append("")
    return out


def _task_table(report: ExperimentReport) -> list[str]:
    """Per task: passed/runs, success rate and cost per run of each variant."""
    out = [f"per task: passed/runs, success rate, cost per run (pass@{report.k} needs {report.k} runs)"]
    for block in _blocks(report.variants):
        out.append("task".ljust(LABEL) + " ".join(_cell(n) for n in block))
        for index, task in enumerate(report.tasks):
            cells = []
            for name in block:
                f = report.summary(name).tasks[index].figures
                cells.append(_cell(f"{f.passed}/{f.runs} {percent(f.success_rate)} {usd(f.cost_per_run)}"))
            out.append(clip(task, LABEL - 1).ljust(LABEL) + " ".join(cells))
        out.append("")
    return out


def _p(value: float | None, resamples: int) -> str:
    if value is None:
        return "=-"
    return f"<{1 / resamples:.4f}" if value == 0 else f"={value:.3f}"


def change(metric: str, value: float | None) -> str:
    """+25 points (success), -18% (cost: the ratio's change)."""
    if value is None:
        return "n/a"
    if metric == "success":
        return f"{value * 100:+.0f} points"
    return f"{(value - 1) * 100:+.0f}%"


def verdict_word(c: Comparison, report: ExperimentReport) -> str:
    if c.verdict == "budget_reached":
        return "inconclusive: budget reached"
    if c.verdict == "equivalent":
        margin = (
            f"±{report.success_margin * 100:.0f} points"
            if c.metric == "success"
            else f"±{report.cost_margin * 100:.0f}%"
        )
        return f"equivalent within {margin}"
    if c.verdict in ("better", "worse") and c.metric == "cost":
        return "better (cheaper)" if c.verdict == "better" else "worse (more expensive)"
    return c.verdict


def verdict_line(c: Comparison, report: ExperimentReport) -> str:
    """`v2 success rate: better: +60 points (95% CI +30 to +87 points; p=..., Holm p=...; method)`."""
    head = f"{c.variant} {METRIC_LABELS[c.metric]}: {verdict_word(c, report)}"
    if c.estimate is None or c.low is None or c.high is None:
        return f"{head} ({c.method}; {c.runs} vs {c.baseline_runs} counted runs)"
    unit = " points" if c.metric == "success" else ""
    low = change(c.metric, c.low).removesuffix(unit)
    ci = f"{report.level * 100:.0f}% CI {low} to {change(c.metric, c.high)}"
    ratio = f", ratio {c.estimate:.2f}" if c.metric == "cost" else ""
    p = f"p{_p(c.p_value, report.resamples)}, Holm p{_p(c.p_holm, report.resamples)}"
    return f"{head}: {change(c.metric, c.estimate)}{ratio} ({ci}; {p}; {c.method})"


def verdict_lines(report: ExperimentReport, width: int = WIDTH) -> list[str]:
    if not report.comparisons:
        return []
    compared = len(report.variants) - 1
    out = textwrap.wrap(
        f"verdicts against {report.baseline} ({report.level * 100:.0f}% intervals, {report.resamples:,} "
        f"resamples, seed {report.seed}; better/worse when the Holm-adjusted p over {compared} "
        f"comparison{'s' if compared != 1 else ''} < {report.alpha:g}; equivalent when the interval lies "
        f"within ±{report.success_margin * 100:.0f} points of success "
        f"or ±{report.cost_margin * 100:.0f}% of cost):",
        width,
        subsequent_indent="  ",
        break_on_hyphens=False,
    )
    for c in report.comparisons:
        line = verdict_line(c, report)
        out += textwrap.wrap(
            line, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False
        )
    return out


def notes(report: ExperimentReport) -> list[str]:
    out = []
    if report.budget_reached:
        out.append(
            "the budget stopped the experiment before all its planned runs: every verdict is inconclusive"
        )
    if report.infra_excluded:
        out.append(
            f"{report.infra_excluded} run(s) left out: infrastructure failures (never a variant's failure)"
        )
    if report.ignored:
        out.append(f"{report.ignored} run(s) of a task or variant not in this experiment left out")
    short = sum(f.figures.runs < report.k for s in report.summaries for f in s.tasks)
    if short and report.k:
        out.append(
            f"{short} (task, variant) cell(s) have fewer than {report.k} counted runs: left out of pass@k"
        )
    return out


def table(report: ExperimentReport) -> str:
    head = (
        f"experiment {report.experiment or '(unnamed)'}: {len(report.variants)} variant(s) x "
        f"{len(report.tasks)} task(s), {report.k} repetition(s); {report.records:,} runs, "
        f"spend {usd(report.spend_usd)}; baseline {report.baseline}"
    )
    lines = [
        *textwrap.wrap(head, WIDTH, break_on_hyphens=False),
        "",
        *_variant_table(report),
        *_task_table(report),
        *verdict_lines(report),
    ]
    lines += [textwrap.fill("note: " + n, WIDTH, subsequent_indent="  ") for n in notes(report)]
    return "\n".join(lines).rstrip("\n") + "\n"


def to_json(report: ExperimentReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


FIGURES = [f.name for f in fields(Figures)]
# CSV columns of a comparison: (column suffix, Comparison field); success is a difference, cost a ratio.
COMPARISON = {
    "success": [("diff", "estimate"), ("diff_low", "low"), ("diff_high", "high")],
    "cost": [("ratio", "estimate"), ("ratio_low", "low"), ("ratio_high", "high")],
}
TESTS = [("p", "p_value"), ("p_holm", "p_holm"), ("verdict", "verdict")]


def _comparison_columns(metric: str) -> list[tuple[str, str]]:
    return [(f"{metric}_{suffix}", name) for suffix, name in COMPARISON[metric] + TESTS]


def to_csv(report: ExperimentReport) -> str:
    """One row per variant overall (task empty, with its comparison columns), then per task."""
    names = ["variant", "task", *FIGURES] + [
        column for m in COMPARISON for column, _ in _comparison_columns(m)
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for summary in report.summaries:
        row: dict[str, object] = {"variant": summary.name, "task": "", **asdict(summary.overall)}
        for c in report.comparisons:
            if c.variant == summary.name:
                row.update({column: getattr(c, name) for column, name in _comparison_columns(c.metric)})
        writer.writerow(row)
        for cell in summary.tasks:
            writer.writerow({"variant": summary.name, "task": cell.task, **asdict(cell.figures)})
    return buffer.getvalue()
