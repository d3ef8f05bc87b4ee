"""A PNG or SVG picture of a report with matplotlib (Agg backend: no display, no network, the
fonts matplotlib ships): one panel per metric of report/stats.py, a bar per group with its 95%
interval as whiskers, the baseline's bar hatched and its value a dashed line across the panel.

Imported only when `--chart` names a .png or .svg file (matplotlib takes a while to import).
Every bar carries the gid `bar:<metric>:<group>`, so an SVG names its bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "claude-session"  # stable ids in the SVG

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from claude_session.report.errors import ReportError  # noqa: E402
from claude_session.report.fetch import GROUP_BY  # noqa: E402
from claude_session.report.model import Report  # noqa: E402
from claude_session.report.stats import METRICS  # noqa: E402
from claude_session.report.verdict import FORMATS  # noqa: E402

FORMATS_BY_SUFFIX = {".png": "png", ".svg": "svg"}
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D")
UNITS = {"cost": "USD", "tokens": "tokens", "requests": "requests", "latency_p50": "ms", "success": "%"}


def interval_bar(
    ax: Any, position: int, value: float, low: float, high: float, is_base: bool, gid: str
) -> None:
    """One bar with its interval's whiskers (the baseline hatched); `gid` names it in an SVG."""
    bars = ax.bar(
        position,
        value,
        color=PALETTE[position % len(PALETTE)],
        hatch="//" if is_base else None,
        edgecolor="black" if is_base else "none",
        yerr=[[value - low], [high - value]],
        capsize=6,
        error_kw={"elinewidth": 1.2, "ecolor": "#222222"},
    )
    bars[0].set_gid(gid)


def figure(report: Report) -> Figure:
    """The figure (not yet saved): one axes per metric with a value, one bar per group shown."""
    analysis = report.analysis
    if analysis is None:
        raise ReportError("--chart: a PNG or SVG draws the intervals per group, and this report has none")
    labels = [g.label for g in report.groups if g.label in analysis.groups]
    metrics = analysis.metrics()
    fig = Figure(figsize=(3.2 * max(len(metrics), 1), 3.6), layout="constrained")
    axes = fig.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=False):
        scale = 100.0 if metric == "success" else 1.0
        for position, label in enumerate(labels):
            interval = analysis.groups[label].get(metric)
            value = interval.value if interval is not None and interval.value is not None else 0.0
            low = interval.low if interval is not None and interval.low is not None else value
            high = interval.high if interval is not None and interval.high is not None else value
            is_base = label == report.baseline
            interval_bar(
                ax, position, value * scale, low * scale, high * scale, is_base, f"bar:{metric}:{label}"
            )
            if is_base:
                ax.axhline(value * scale, color="#555555", linestyle="--", linewidth=1, zorder=0)
        ax.set_xticks(range(len(labels)), [f"{x}\n(baseline)" if x == report.baseline else x for x in labels])
        ax.set_title(METRICS[metric].label, fontsize=10)
        ax.set_ylabel(UNITS[metric], fontsize=9)
        ax.tick_params(labelsize=8)
        for position, label in enumerate(labels):
            interval = analysis.groups[label].get(metric)
            if interval is not None:
                ax.annotate(
                    FORMATS[metric](interval.value),
                    (position, 0),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    color="white",
                )
    fig.suptitle(
        f"{report.project}: per {GROUP_BY[report.group_by]}, "
        f"{analysis.level * 100:.0f}% intervals (bootstrap over sessions)",
        fontsize=11,
    )
    return fig


def write(report: Report, path: Path) -> None:
    fmt = FORMATS_BY_SUFFIX[path.suffix.lower()]
    # A fixed date and no software version in the file: the same report, the same bytes.
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    figure(report).savefig(path, format=fmt, dpi=110, metadata=metadata)
