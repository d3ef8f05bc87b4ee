"""Render a report: a comparison table (groups as columns, fits 100 columns), a session list, JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from claude_session.report import verdict
from claude_session.report.attribution import MAIN, REST, SUBAGENT_PREFIX
from claude_session.report.fetch import GROUP_BY
from claude_session.report.model import COMPARED, GroupStats, Report, percent
from claude_session.report.units import WIDTH, clip, count, duration, millis, moment, usd

LABEL = 22  # the metric-name column of the comparison table


# --------------------------------------------------------------------------- comparison table

Metric = Callable[[GroupStats], str]

ROWS: list[tuple[str, Metric]] = [
    ("sessions", lambda g: count(g.sessions)),
    ("requests", lambda g: count(g.requests)),
    ("  per session", lambda g: f"{g.requests_per_session:,.1f}" if g.requests_per_session else "-"),
    ("errors", lambda g: count(g.errors)),
    ("input tokens", lambda g: count(g.input_tokens)),
    ("  per session", lambda g: count(g.per_session(g.input_tokens))),
    ("output tokens", lambda g: count(g.output_tokens)),
    ("  per session", lambda g: count(g.per_session(g.output_tokens))),
    ("cache-read tokens", lambda g: count(g.cache_read_tokens)),
    ("  per session", lambda g: count(g.per_session(g.cache_read_tokens))),
    ("cache-write tokens", lambda g: count(g.cache_write_tokens)),
    ("  per session", lambda g: count(g.per_session(g.cache_write_tokens))),
    ("all tokens/session", lambda g: count(g.tokens_per_session)),
    ("cost (LiteLLM)", lambda g: usd(g.cost_usd)),
    ("  per session", lambda g: usd(g.cost_per_session)),
    ("  per request", lambda g: usd(g.cost_per_request)),
    ("latency p50", lambda g: millis(g.latency_p50_ms)),
    ("latency p95", lambda g: millis(g.latency_p95_ms)),
    ("first token p50", lambda g: millis(g.ttft_p50_ms)),
]


def _attribution_rows(report: Report) -> list[tuple[str, Metric]]:
    """Turns and where the cost went: main loop, sub-agents (each type seen), the rest."""
    types = sorted({k for g in report.groups for k in g.cost_breakdown if k.startswith(SUBAGENT_PREFIX)})

    def bucket(name: str) -> Metric:
        return lambda g: usd(g.cost_breakdown.get(name, 0.0))

    rows: list[tuple[str, Metric]] = [
        ("turns (prompt ids)", lambda g: count(g.turns) if g.turns or not g.turns_unknown_sessions else "?"),
        ("  per session", lambda g: f"{g.turns_per_session:,.1f}" if g.turns_per_session else "-"),
        ("  cost per turn", lambda g: usd(g.cost_per_turn)),
        ("  sessions unknown", lambda g: count(g.turns_unknown_sessions)),
        ("cost: main loop", bucket(MAIN)),
        ("  sub-agents", lambda g: usd(g.subagent_cost_usd)),
    ]
    rows += [(clip(f"    {name[len(SUBAGENT_PREFIX) :]}", LABEL), bucket(name)) for name in types]
    rows.append(("  rest", bucket(REST)))
    return rows


def _outcome_rows(report: Report) -> list[tuple[str, Metric]]:
    """Ratings and checks, when any session of the report has one."""
    if not any(g.rated_sessions or g.checked_sessions for g in report.groups):
        return []
    return [
        ("rated sessions", lambda g: count(g.rated_sessions)),
        ("  mean score", lambda g: f"{g.mean_score:.1f}" if g.mean_score is not None else "-"),
        ("checked sessions", lambda g: count(g.checked_sessions)),
        ("  success rate", lambda g: f"{g.success_rate:.0%}" if g.success_rate is not None else "-"),
        ("  cost per success", lambda g: usd(g.cost_per_success)),
    ]


def _change_rows(report: Report) -> list[tuple[str, Metric]]:
    if not report.baseline:
        return []
    changes = {c.group: c.changes for c in report.comparisons}

    def cell(metric: str) -> Metric:
        return lambda g: "baseline" if g.label == report.baseline else percent(changes[g.label].get(metric))

    rows: list[tuple[str, Metric]] = [(clip(f"change vs {report.baseline}", LABEL), lambda g: "")]
    rows += [(clip(f"  {label}", LABEL), cell(metric)) for metric, label in COMPARED.items()]
    return rows


def _blocks(groups: list[GroupStats], baseline: str | None, per_block: int) -> list[list[GroupStats]]:
    """Groups split into blocks that fit; the baseline leads every block."""
    base = [g for g in groups if baseline is not None and g.label == baseline]
    rest = [g for g in groups if g not in base]
    size = max(per_block - len(base), 1)
    return [base + rest[i : i + size] for i in range(0, len(rest), size)] or [base]


def comparison_table(report: Report, width: int = WIDTH) -> list[str]:
    rows = ROWS + _attribution_rows(report) + _outcome_rows(report) + _change_rows(report)
    cells = {id(g): [metric(g) for _, metric in rows] for g in report.groups}
    natural = max(
        [len(c) for g in report.groups for c in cells[id(g)]] + [len(g.label) for g in report.groups]
    )
    column = max(9, min(natural, 16))
    per_block = max(1, (width - LABEL) // (column + 2))
    lines: list[str] = []
    for block in _blocks(report.groups, report.baseline, per_block):
        if lines:
            lines.append("")
        header = "".join(f"  {clip(g.label, column):>{column}}" for g in block)
        lines.append(f"{GROUP_BY[report.group_by]:<{LABEL}}{header}")
        for index, (label, _) in enumerate(rows):
            values = "".join(f"  {clip(cells[id(g)][index], column):>{column}}" for g in block)
            lines.append(f"{label:<{LABEL}}{values}".rstrip())
    return lines


def _header(report: Report) -> list[str]:
    span = f", {moment(report.start)} to {moment(report.end)} UTC" if report.start and report.end else ""
    lines = [
        f"project {report.project!r} at {report.phoenix_url}",
        f"{report.requests:,} requests in {report.sessions:,} sessions{span}",
    ]
    scope = [f"{key}={value}" for key, value in report.filters.items()]
    if report.window_start:
        scope.append(f"from {moment(report.window_start)}")
    if report.window_end:
        scope.append(f"to {moment(report.window_end)}")
    if scope:
        lines.append("filters: " + ", ".join(scope))
    lines.append("cost: LiteLLM's cache-aware cost on each span (llm.cost.total), not Phoenix's pricing")
    if report.phoenix_cost_usd is not None:
        verdict = "DIFFERS, see the warnings" if report.cost_differs() else "agrees"
        lines.append(
            f"      Phoenix's own figure for these sessions: {usd(report.phoenix_cost_usd)} ({verdict})"
        )
    return lines


def _warnings(report: Report, width: int) -> list[str]:
    if not report.warnings:
        return []
    wrapped = [textwrap.fill(f"warning: {w}", width, subsequent_indent="  ") for w in report.warnings]
    return ["", *"\n".join(wrapped).splitlines()]


def _filters_section(report: Report) -> list[str]:
    lines = ["Phoenix filters for these spans (Spans tab; then Traces or Sessions tab):"]
    for group in report.groups:
        lines.append(f"  {group.label}:")
        lines.append(f"    {group.span_filter}")
        if group.root_filter:
            lines.append(f"    {group.root_filter}")
    if report.group_by == "model":
        lines.append(
            "  (Spans tab only: a request's root span carries no model name, so Phoenix counts it once)"
        )
    return lines


def table(report: Report, width: int = WIDTH) -> str:
    lines = [*_header(report), "", *comparison_table(report, width)]
    if report.comparisons:
        lines.append("")
        for comparison in report.comparisons:
            summary = comparison.summary()
            if len(summary) <= width:
                lines.append(summary)
                continue
            # "A vs B:" on its own line(s), the figures below it; long labels wrap too.
            head, _, rest = summary.partition(": ")
            lines += textwrap.wrap(f"{head}:", width, subsequent_indent="  ")
            lines += textwrap.wrap(rest, width, initial_indent="  ", subsequent_indent="  ")
    lines += _warnings(report, width)
    lines += ["", *_filters_section(report)]

    verdicts = verdict.lines(report, width)  # last: the intervals and verdict lines
    lines += ["", *verdicts] if verdicts else []
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- session list


@dataclass
class _Column:
    header: str
    values: list[str]
    right: bool = False
    floor: int | None = None  # narrowest it may get (None: never shrinks)
    middle: bool = False  # clip in the middle, keeping the (distinctive) tail


def _clip_middle(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def _fit(columns: list[_Column], width: int) -> list[str]:
    """Rows of `columns` in at most `width` characters: the widest shrinkable column gives way first."""
    widths = [max([len(c.header), *map(len, c.values)]) for c in columns]
    while sum(widths) + 2 * (len(widths) - 1) > width:
        candidates = [i for i, c in enumerate(columns) if c.floor is not None and widths[i] > c.floor]
        if not candidates:
            break
        # Ids (clipped in the middle) give way last: they are what a user copies.
        widths[
            max(candidates, key=lambda i: (not columns[i].middle, widths[i] - (columns[i].floor or 0)))
        ] -= 1

    def line(cells: Sequence[str]) -> str:
        parts = []
        for cell, column, w in zip(cells, columns, widths, strict=True):
            text = _clip_middle(cell, w) if column.middle else clip(cell, w)
            parts.append(f"{text:>{w}}" if column.right else f"{text:<{w}}")
        return "  ".join(parts).rstrip()

    rows = [line([c.header for c in columns])]
    rows += [line([c.values[i] for c in columns]) for i in range(len(columns[0].values))]
    return rows


def session_list(report: Report, limit: int | None = None, width: int = WIDTH) -> str:
    groups = report.groups[:limit] if limit else report.groups
    total = max(report.total_groups, len(report.groups))
    columns = [
        _Column("session", [g.label for g in groups], floor=24, middle=True),
        _Column("type", [g.session_type or "-" for g in groups], floor=6),
        _Column("ver", [g.prompt_version or "-" for g in groups], floor=4),
        _Column("name", [g.session_name or "-" for g in groups], floor=6),
        _Column("start (UTC)", [moment(g.start)[5:] for g in groups]),
        _Column("duration", [duration(g.duration_s) for g in groups], right=True),
        _Column("reqs", [count(g.requests) for g in groups], right=True),
        _Column("cost", [usd(g.cost_usd) for g in groups], right=True),
    ]
    shown = f"the {len(groups)} most recent of " if len(groups) < total else ""
    lines = [*_header(report), f"{shown}{total:,} sessions, most recent first", ""]
    lines += _fit(columns, width)
    lines += _breakdown_section(groups, width)
    lines += _warnings(report, width)
    lines += ["", "Phoenix: Sessions tab, filter attributes['session']['id'] == '<session>'"]
    return "\n".join(lines) + "\n"


def _breakdown_section(groups: list[GroupStats], width: int) -> list[str]:
    """Per session: where the cost went (main loop, each sub-agent type, the rest) and per turn."""
    lines = ["", "turns (distinct prompt ids; ? = no gateway hints) and where the cost went:"]
    for g in groups:
        turns = "?" if g.turns_unknown_sessions and not g.turns else count(g.turns)
        parts = [f"{turns} turn{'' if g.turns == 1 else 's'}"]
        parts += [
            f"{'main' if k == MAIN else k}: {usd(v)}" for k, v in g.cost_breakdown.items() if v or k == MAIN
        ]
        if g.cost_per_turn is not None:
            parts.append(f"per turn: {usd(g.cost_per_turn)}")
        line = f"  {_clip_middle(g.label, 40)}  {parts[0]}"
        for part in parts[1:]:  # wrapped between parts, never inside one
            if len(line) + 2 + len(part) > width:
                lines.append(line + ",")
                line = "      " + part
            else:
                line += ", " + part
        lines.append(line)
    return lines


# --------------------------------------------------------------------------- machine-readable


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


CSV_FIELDS = [
    "group_by",
    "group",
    "sessions",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "input_tokens_per_session",
    "output_tokens_per_session",
    "cache_read_tokens_per_session",
    "cache_write_tokens_per_session",
    "tokens_per_session",
    "requests_per_session",
    "cost_usd",
    "cost_per_session",
    "cost_per_request",
    "phoenix_cost_usd",
    "cost_mismatch",
    "turns",
    "turns_unknown_sessions",
    "turns_per_session",
    "turn_cost_usd",
    "cost_per_turn",
    "cost_main_usd",
    "cost_subagent_usd",
    "cost_rest_usd",
    "cost_breakdown",
    "rated_sessions",
    "mean_score",
    "checked_sessions",
    "passed_sessions",
    "success_rate",
    "cost_per_success",
    "latency_p50_ms",
    "latency_p95_ms",
    "ttft_p50_ms",
    "start",
    "end",
    "duration_s",
    "session_type",
    "prompt_version",
    "session_name",
]


def to_csv(report: Report, limit: int | None = None) -> str:
    changes = {c.group: c.changes for c in report.comparisons}

    change_fields = [f"change_{metric}" for metric in COMPARED] if report.baseline else []
    change_fields += verdict.csv_fields(report)
    out = io.StringIO()
    writer = csv.DictWriter(
        out, [*CSV_FIELDS, *change_fields, "span_filter", "root_filter"], lineterminator="\n"
    )
    writer.writeheader()
    for group in report.groups[:limit] if limit else report.groups:
        row = group.to_dict()
        row.update({"group_by": report.group_by, "group": group.label})
        row.update(verdict.csv_values(report, group.label))
        for metric in COMPARED if report.baseline else ():
            row[f"change_{metric}"] = changes.get(group.label, {}).get(metric)
        writer.writerow({k: _csv_value(row.get(k)) for k in writer.fieldnames})
    return out.getvalue()


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, dict):  # the cost breakdown: main=...;subagent:TYPE=...;rest=...
        return ";".join(f"{k}={_csv_value(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.10g}"
    return value
