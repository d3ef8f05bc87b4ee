"""`claude-session report` and `claude-session sessions`: compare cost, tokens and latency per group.

Reads the LLM spans (`litellm_request`, one per proxied request) from Phoenix's public
API, only the columns it needs, page by page, and aggregates them in one pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from claude_session.cli.context import Context, PhoenixTarget, phoenix_target
from claude_session.cli.parser import Parser
from claude_session.errors import ClaudeSessionError
from claude_session.phoenix.annotations import fetch_outcomes
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.report import attribution, intervals
from claude_session.report import chart as report_chart
from claude_session.report import render as report_format
from claude_session.report.fetch import (
    DEFAULT_PAGE,
    GROUP_BY,
    Aggregation,
    Selection,
    aggregate,
    fetch_pages,
    phoenix_costs,
    phoenix_session_cost,
)
from claude_session.report.model import Report, compare
from claude_session.report.outcomes import summarize
from claude_session.report.samples import SessionCollector
from claude_session.report.stats import GroupSample
from claude_session.report.timewindow import iso, window

GROUP_ALIASES = {
    "version": "prompt_version",
    "prompt-version": "prompt_version",
    "id": "session",
    "request-class": "request_class",
    "agent-type": "agent_type",
}
PER_GROUP_CHECKS = 12  # groups whose cost is compared with Phoenix's one by one, at most
# Up to this many sessions, Phoenix's figure is the sum of each session's own cost (its Sessions
# tab); beyond, Phoenix's cost of the report's spans in one query.
SESSIONS_CHECKED_ONE_BY_ONE = 250
PHOENIX_TIMEOUT = 300.0

REPORT_DESCRIPTION = """\
Compare LLM requests per prompt version (default), type, name, session, request class,
agent type or model: sessions, requests, input / output / cache tokens, cost, latency p50
and p95, user turns and cost per turn, where the cost went (main loop, each sub-agent type,
the rest), time to first token
(when spans carry it) and errors, with the change against a baseline group.
Cost is LiteLLM's cache-aware cost carried on each span, not Phoenix's own pricing."""

EXAMPLES = """\
examples:
  claude-session report --type code-review --baseline v1
  claude-session report --group-by type --since 7d
  claude-session report --version v2 --group-by name --format csv > v2.csv
  claude-session report --chart report.html"""


def _group_key(text: str) -> str:
    key = GROUP_ALIASES.get(text, text)
    if key not in GROUP_BY:
        raise argparse.ArgumentTypeError(f"unknown group key {text!r} (choose from {', '.join(GROUP_BY)})")
    return key


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def build_parser(prog: str, sessions: bool) -> Parser:
    parser = Parser(
        prog=prog,
        description="List recent sessions: type, version, name, start, duration, requests, cost."
        if sessions
        else REPORT_DESCRIPTION,
        epilog=None if sessions else EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if not sessions:
        parser.add_argument(
            "-g",
            "--group-by",
            type=_group_key,
            default="prompt_version",
            metavar="KEY",
            help="prompt_version (default), type, name, user, session (a session list), "
            "request-class, agent-type or model",
        )
        parser.add_argument("-b", "--baseline", metavar="GROUP", help="compare every group with this one")
        parser.add_argument(
            "--min-sessions",
            type=_positive,
            default=None,
            metavar="N",
            help="deprecated: the verdicts say 'too few sessions to tell' from the width of the "
            "intervals; given, it still warns when a compared group has fewer than N sessions",
        )
        parser.add_argument(
            "--chart",
            type=Path,
            metavar="FILE",
            help="write a chart to FILE; its extension picks the format: .png or .svg a picture "
            "(needs matplotlib), any other an HTML page with the chart inline",
        )
        parser.add_argument(
            "--no-phoenix-check",
            action="store_true",
            help="skip comparing the cost with Phoenix's own figure",
        )
    selection = parser.add_argument_group("selection")
    selection.add_argument("-t", "--type", help="only this session type")
    selection.add_argument(
        "-v", "--version", dest="prompt_version", metavar="VERSION", help="only this prompt version"
    )
    selection.add_argument("-n", "--name", help="only this session name")
    selection.add_argument("--session", metavar="ID", help="only this session id")
    selection.add_argument("-u", "--user", metavar="USER", help="only this developer (session.user)")
    selection.add_argument("--since", metavar="AGE", help="only the last AGE: 90m, 12h, 7d, 4w")
    selection.add_argument(
        "--from", dest="start", metavar="WHEN", help="from this date or time (local unless it has an offset)"
    )
    selection.add_argument("--to", dest="end", metavar="WHEN", help="until this date or time (excluded)")
    output = parser.add_argument_group("output")
    output.add_argument("-f", "--format", choices=("table", "json", "csv"), default="table")
    output.add_argument(
        "--limit",
        type=_positive,
        default=20 if sessions else None,
        metavar="N",
        help="at most N groups (sessions: the N most recent; default " + ("20)" if sessions else "all)"),
    )
    output.add_argument("--timing", action="store_true", help="print fetch and aggregation times to stderr")
    target = parser.add_argument_group("Phoenix")
    target.add_argument("--phoenix-url", metavar="URL", help="default: the running stack's Phoenix")
    target.add_argument("--project", help="default: the running stack's project (claude-code)")
    target.add_argument("--page-size", type=_positive, default=DEFAULT_PAGE, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str], ctx: Context) -> int:
    return run(build_parser("claude-session report", sessions=False).parse_args(argv), ctx, sessions=False)


def sessions_main(argv: list[str], ctx: Context) -> int:
    args = build_parser("claude-session sessions", sessions=True).parse_args(argv)
    args.group_by, args.baseline, args.chart, args.no_phoenix_check = "session", None, None, True
    args.min_sessions = None
    return run(args, ctx, sessions=True)


def run(args: argparse.Namespace, ctx: Context, sessions: bool) -> int:
    started = time.perf_counter()
    if args.chart is not None:
        report_chart.check_path(args.chart)  # before any work
    start, end = window(args.since, args.start, args.end)
    keys = ("session", "type", "prompt_version", "name", "user")
    selection = Selection({key: getattr(args, key) for key in keys if getattr(args, key)}, start, end)
    where = phoenix_target(args.phoenix_url, args.project, ctx)
    client = PhoenixClient(where.url, timeout=PHOENIX_TIMEOUT, api_key=where.api_key)
    project_id = client.project_id(where.project)
    if project_id is None:
        raise ClaudeSessionError(
            f"Phoenix at {where.url} has no project {where.project!r}: no spans were sent to it yet"
        )
    collector = None if args.group_by == "session" else SessionCollector()
    result = aggregate(
        fetch_pages(client, where.project, project_id, selection, args.page_size),
        selection,
        args.group_by,
        collector,
    )
    report = _report(args, where, selection, result)
    report.warnings += attribution.warnings(report.groups)
    if not report.groups:
        return _nothing(args, where, selection)
    if args.baseline:
        _set_baseline(report, args.baseline, args.min_sessions)
    samples = collector.samples() if collector is not None else {}
    outcome_map = _attach_outcomes(client, where.project, report, samples)
    stats_s = 0.0 if collector is None else intervals.attach(report, samples, outcome_map)
    _apply_limit(report, args.limit)
    checked = (
        0.0 if args.no_phoenix_check else _check_phoenix_cost(client, project_id, report, result.session_ids)
    )
    report.timing = {
        "fetch_s": round(result.fetch_s, 4),
        "aggregate_s": round(result.aggregate_s, 4),
        "stats_s": round(stats_s, 4),
        "phoenix_cost_s": round(checked, 4),
        "total_s": round(time.perf_counter() - started, 4),
        "spans": result.spans,
        "pages": result.pages,
    }
    _emit(report, args, sessions)
    if args.chart is not None:
        report_chart.write(report, args.chart)
    if args.timing:
        _print_timing(report)
    return 0


def _attach_outcomes(
    client: PhoenixClient, project: str, report: Report, samples: Mapping[str, GroupSample]
) -> dict[str, bool]:
    """Ratings and check results per group, from Phoenix's session annotations; returns each
    checked session's pass/fail for the success rate's interval."""
    if not samples:
        return {}
    ids = [sid for sample in samples.values() for sid in sample.sessions if sid is not None]
    try:
        found = fetch_outcomes(client, project, ids)
    except PhoenixError as err:
        report.warnings.append(f"ratings and checks not read: {err}")
        return {}
    for group in report.groups:
        sample = samples.get(group.label)
        if sample is None:
            continue
        costs = {sid: float(c) for sid, c in zip(sample.sessions, sample.values["cost"], strict=True) if sid}
        summary = summarize(costs, found, costs)
        group.rated_sessions, group.mean_score = summary.rated, summary.mean_score
        group.checked_sessions, group.passed_sessions = summary.checked, summary.passed
        group.success_rate, group.cost_per_success = summary.success_rate, summary.cost_per_success
    return {sid: o.check_passed for sid, o in found.items() if o.check_passed is not None}


def _apply_limit(report: Report, limit: int | None) -> None:
    report.count_totals()
    if limit and len(report.groups) > limit:
        if report.group_by != "session":  # a session list says "the N most recent of M" itself
            report.warnings.append(f"showing {limit} of {len(report.groups):,} groups (--limit)")
        report.groups = report.groups[:limit]


def _print_timing(report: Report) -> None:
    t = report.timing
    print(
        f"fetched {int(t['spans']):,} spans in {t['fetch_s']:.2f} s ({int(t['pages'])} pages), "
        f"aggregated in {t['aggregate_s']:.2f} s, Phoenix cost check {t['phoenix_cost_s']:.2f} s, "
        f"total {t['total_s']:.2f} s",
        file=sys.stderr,
    )


def _report(
    args: argparse.Namespace, where: PhoenixTarget, selection: Selection, result: Aggregation
) -> Report:
    return Report(
        project=where.project,
        phoenix_url=where.url,
        group_by=args.group_by,
        filters=dict(selection.values),
        window_start=iso(selection.start) if selection.start else None,
        window_end=iso(selection.end) if selection.end else None,
        span_filter=selection.span_filter(),
        groups=result.groups,
    )


def _nothing(args: argparse.Namespace, where: PhoenixTarget, selection: Selection) -> int:
    """No span matched: one line (and still a well-formed JSON or CSV document)."""
    scope = ", ".join(f"{k}={v}" for k, v in selection.values.items())
    if selection.start or selection.end:
        window_text = f"{iso(selection.start) if selection.start else '...'} to "
        window_text += iso(selection.end) if selection.end else "now"
        scope = f"{scope}, {window_text}" if scope else window_text
    line = f"no LLM requests in project {where.project!r} at {where.url}" + (
        f" match {scope}" if scope else ""
    )
    if args.format == "table":
        print(line)
        return 0
    print(line, file=sys.stderr)
    empty = Report(
        where.project,
        where.url,
        args.group_by,
        dict(selection.values),
        iso(selection.start) if selection.start else None,
        iso(selection.end) if selection.end else None,
        selection.span_filter(),
        [],
    )
    sys.stdout.write(report_format.to_json(empty) if args.format == "json" else report_format.to_csv(empty))
    return 0


def _set_baseline(report: Report, baseline: str, min_sessions: int | None) -> None:
    labels = [g.label for g in report.groups]
    if baseline not in labels:
        raise ClaudeSessionError(
            f"--baseline {baseline}: no {GROUP_BY[report.group_by]} of that name among "
            f"{', '.join(labels[:10])}{', ...' if len(labels) > 10 else ''}",
            exit_code=2,
        )
    report.baseline = baseline
    report.comparisons = compare(report.groups, baseline)
    for group in report.groups:
        if min_sessions is not None and group.sessions < min_sessions:
            report.warnings.append(
                f"{group.label} has {group.sessions} session{'s' if group.sessions != 1 else ''} "
                f"(fewer than {min_sessions}): too few to tell a real change from noise"
            )


def _check_phoenix_cost(
    client: PhoenixClient, project_id: str, report: Report, session_ids: set[str]
) -> float:
    """Compare LiteLLM's cost with Phoenix's own; flag the groups that differ.

    Phoenix's figure is what a user reads in its Sessions tab: the sum of the report's
    sessions' own cost. Per group (Phoenix's cost of the group's spans) only when that total
    differs, since each per-group aggregate makes Phoenix read every span's attributes again.
    """
    began = time.perf_counter()
    if len(session_ids) <= SESSIONS_CHECKED_ONE_BY_ONE:
        total = phoenix_session_cost(client, session_ids)
    else:  # one aggregate instead of a query per 50 sessions: the same spans, the same prices
        total = phoenix_costs(client, project_id, {"all": report.span_filter})["all"]
    report.phoenix_cost_usd = total
    if not report.cost_differs():
        return time.perf_counter() - began
    groups = report.groups[:PER_GROUP_CHECKS]
    costs = phoenix_costs(client, project_id, {g.label: g.span_filter for g in groups})
    for group in groups:
        group.phoenix_cost_usd = costs[group.label]
        if group.cost_mismatch:
            models = ", ".join(group.models) or "no model name"
            report.warnings.append(
                f"{group.label}: Phoenix's own cost is {report_format.usd(group.phoenix_cost_usd)}, "
                f"LiteLLM's {report_format.usd(group.cost_usd)} ({models}); Phoenix lacks or differs "
                "in a model price (spans priced before the price was registered stay at $0)"
            )
    return time.perf_counter() - began


def _emit(report: Report, args: argparse.Namespace, sessions: bool) -> None:
    if args.format == "json":
        sys.stdout.write(report_format.to_json(report))
    elif args.format == "csv":
        sys.stdout.write(report_format.to_csv(report))
    elif sessions or report.group_by == "session":
        sys.stdout.write(report_format.session_list(report))
    else:
        sys.stdout.write(report_format.table(report))
