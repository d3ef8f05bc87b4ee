"""A self-contained HTML page with an inline SVG chart of a report (no JavaScript, no network).

Three panels (tokens per session, cost per session, latency p50) of horizontal bars; each
group is one SVG series (`<g class="series" data-group="...">`) holding its bar in every
panel, in one colour, named in the legend. The report's JSON rides along in a
`<script type="application/json">` block for anyone who wants the numbers.
"""

from __future__ import annotations

import html
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

from claude_session.report.errors import ReportError
from claude_session.report.fetch import GROUP_BY
from claude_session.report.model import GroupStats, Report
from claude_session.report.units import count, millis, usd

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D")
PANELS: list[tuple[str, Callable[[GroupStats], float | None], Callable[[float | None], str]]] = [
    ("Tokens per session (input + output + cache)", lambda g: g.tokens_per_session, count),
    ("Cost per session (LiteLLM, USD)", lambda g: g.cost_per_session, usd),
    ("Latency p50 per request", lambda g: g.latency_p50_ms, millis),
]
LEFT, BAR_SPACE, ROW, GAP, WIDTH = 190, 560, 22, 44, 900


def _bar(x: float, y: float, width: float, colour: str, label: str, value: str, title: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.5):.1f}" height="{ROW - 6}" fill="{colour}">'
        f"<title>{html.escape(title)}</title></rect>"
        f'<text x="{LEFT - 8}" y="{y + ROW / 2:.1f}" text-anchor="end" class="label">'
        f"{html.escape(label)}</text>"
        f'<text x="{x + width + 6:.1f}" y="{y + ROW / 2:.1f}" class="value">{html.escape(value)}</text>'
    )


def svg(report: Report) -> str:
    groups = report.groups
    panel_height = GAP + ROW * len(groups)
    height = panel_height * len(PANELS) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img">'
    ]
    for index, (title, _, _) in enumerate(PANELS):
        top = index * panel_height
        parts.append(f'<text x="10" y="{top + 26}" class="title">{html.escape(title)}</text>')
    maxima = [max([m(g) or 0.0 for g in groups] + [0.0]) for _, m, _ in PANELS]
    for row, group in enumerate(groups):
        colour = PALETTE[row % len(PALETTE)]
        parts.append(f'<g class="series" data-group="{html.escape(group.label, quote=True)}">')
        for index, (_, metric, fmt) in enumerate(PANELS):
            value = metric(group)
            width = BAR_SPACE * (value or 0.0) / maxima[index] if maxima[index] else 0.0
            y = index * panel_height + GAP - 6 + row * ROW
            parts.append(
                _bar(LEFT, y, width, colour, group.label, fmt(value), f"{group.label}: {fmt(value)}")
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def page(report: Report) -> str:
    legend = "".join(
        f'<li><span style="background:{PALETTE[i % len(PALETTE)]}"></span>{html.escape(g.label)}'
        f" &middot; {g.sessions:,} sessions, {g.requests:,} requests</li>"
        for i, g in enumerate(report.groups)
    )
    data = json.dumps(report.to_dict()).replace("</", "<\\/")
    title = f"claude-session report: {report.project}, by {GROUP_BY[report.group_by]}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #222; }}
.title {{ font-weight: 600; font-size: 15px; }}
.label, .value {{ font-size: 12px; dominant-baseline: middle; }}
ul.legend {{ list-style: none; padding: 0; }} ul.legend li {{ margin: 2px 0; }}
ul.legend span {{ display: inline-block; width: 12px; height: 12px; margin-right: 6px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{report.requests:,} LLM requests. Cost: {html.escape(report.cost_source)}.</p>
<ul class="legend">{legend}</ul>
{svg(report)}
<script type="application/json" id="report-data">{data}</script>
</body></html>
"""


PICTURES = (".png", ".svg")  # drawn by report/plot.py with matplotlib; anything else: this HTML page


def check_path(path: Path) -> None:
    if path.suffix.lower() in PICTURES and importlib.util.find_spec("matplotlib") is None:
        raise ReportError(
            f"--chart {path}: {path.suffix[1:].upper()} needs matplotlib, which this install does not "
            "have; write a self-contained HTML page instead (e.g. --chart report.html)",
            exit_code=2,
        )


def write(report: Report, path: Path) -> None:
    check_path(path)
    if path.suffix.lower() in PICTURES:
        from claude_session.report import plot  # slow to import: only when asked for

        try:
            plot.write(report, path)
        except OSError as err:
            raise ReportError(f"--chart {path}: cannot write it ({err.strerror})") from None
        return
    try:
        path.write_text(page(report), encoding="utf-8")
    except OSError as err:
        raise ReportError(f"--chart {path}: cannot write it ({err.strerror})") from None
