"""A PNG or SVG chart of an experiment report with matplotlib (Agg backend, as report/plot.py):
two panels, success rate and cost per run, a bar per variant with its interval as whiskers, the
baseline's bar hatched and its value a dashed line. Each bar has the gid `bar:<metric>:<variant>`.

Imported only when a chart is asked for (matplotlib takes a while to import).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.render import percent
from claude_session.experiment.report import ExperimentReport
from claude_session.report.plot import FORMATS_BY_SUFFIX, interval_bar  # also selects the Agg backend
from claude_session.report.units import usd

PANELS = (("success", "success rate", "%", 100.0), ("cost", "cost per run", "USD", 1.0))


def figure(report: ExperimentReport) -> Figure:
    fig = Figure(figsize=(3.4 * len(PANELS) + 0.4 * len(report.variants), 3.8), layout="constrained")
    axes = fig.subplots(1, len(PANELS), squeeze=False)[0]
    for ax, (metric, title, unit, scale) in zip(axes, PANELS, strict=True):
        for position, name in enumerate(report.variants):
            f = report.summary(name).overall
            value, low, high = (
                (f.success_rate, f.success_low, f.success_high)
                if metric == "success"
                else (f.cost_per_run, f.cost_low, f.cost_high)
            )
            shown = value or 0.0
            is_base = name == report.baseline
            low, high = (shown if low is None else low), (shown if high is None else high)
            interval_bar(
                ax, position, shown * scale, low * scale, high * scale, is_base, f"bar:{metric}:{name}"
            )
            ax.annotate(
                percent(value) if metric == "success" else usd(value),
                (position, 0),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="white",
            )
            if is_base:
                ax.axhline(shown * scale, color="#555555", linestyle="--", linewidth=1, zorder=0)
        labels = [f"{n}\n(baseline)" if n == report.baseline else n for n in report.variants]
        ax.set_xticks(range(len(report.variants)), labels, rotation=20 if len(report.variants) > 3 else 0)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit, fontsize=9)
        ax.tick_params(labelsize=8)
    fig.suptitle(
        f"experiment {report.experiment}: {len(report.tasks)} task(s), {report.level * 100:.0f}% intervals"
        + (" (budget reached)" if report.budget_reached else ""),
        fontsize=11,
    )
    return fig


def write(report: ExperimentReport, path: Path) -> None:
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise ExperimentError(f"--chart {path}: the chart is a .png or .svg file", exit_code=2)
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    try:
        figure(report).savefig(path, format=fmt, dpi=110, metadata=metadata)
    except OSError as err:
        raise ExperimentError(f"--chart {path}: cannot write it ({err.strerror})") from None
