"""`claude-session report` and `claude-session sessions`: parse the options, build the report
(claude_session.report.build), print it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from claude_session.cli.context import Context, phoenix_target
from claude_session.cli.parser import Parser
from claude_session.phoenix.client import PhoenixClient
from claude_session.report import chart as report_chart
from claude_session.report import render
from claude_session.report.build import ReportQuery, build_report
from claude_session.report.fetch import DEFAULT_PAGE, GROUP_BY, Selection
from claude_session.report.model import Report
from claude_session.report.timewindow import window

GROUP_ALIASES = {
    "version": "prompt_version",
    "prompt-version": "prompt_version",
    "id": "session",
    "request-class": "request_class",
    "agent-type": "agent_type",
}
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
    output.add_argument(
        "--no-cache",
        action="store_true",
        help="read every span from Phoenix instead of the local report cache (the same report, slower)",
    )
    target = parser.add_argument_group("Phoenix")
    target.add_argument("--phoenix-url", metavar="URL", help="default: the running stack's Phoenix")
    target.add_argument("--project", help="default: the running stack's project (claude-code)")
    target.add_argument("--page-size", type=_positive, default=DEFAULT_PAGE, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str], ctx: Context) -> int:
    args = build_parser("claude-session report", sessions=False).parse_args(argv)
    query = ReportQuery(
        _selection(args),
        group_by=args.group_by,
        baseline=args.baseline,
        min_sessions=args.min_sessions,
        limit=args.limit,
        phoenix_check=not args.no_phoenix_check,
        page_size=args.page_size,
        cache=not args.no_cache,
    )
    return run(query, args, ctx, args.chart)


def sessions_main(argv: list[str], ctx: Context) -> int:
    args = build_parser("claude-session sessions", sessions=True).parse_args(argv)
    query = ReportQuery(
        _selection(args),
        group_by="session",
        limit=args.limit,
        phoenix_check=False,
        page_size=args.page_size,
        cache=not args.no_cache,
    )
    return run(query, args, ctx, chart=None)


def _selection(args: argparse.Namespace) -> Selection:
    start, end = window(args.since, args.start, args.end)
    keys = ("session", "type", "prompt_version", "name", "user")
    return Selection({key: getattr(args, key) for key in keys if getattr(args, key)}, start, end)


def run(query: ReportQuery, args: argparse.Namespace, ctx: Context, chart: Path | None) -> int:
    if chart is not None:
        report_chart.check_path(chart)  # before any work
    where = phoenix_target(args.phoenix_url, args.project, ctx)
    client = PhoenixClient(where.url, timeout=PHOENIX_TIMEOUT, api_key=where.api_key)
    report = build_report(query, client, where.project, ctx.state.report_cache, _to_stderr)
    if not report.groups:
        _nothing(report, args.format)
        return 0
    _emit(report, args.format)
    if chart is not None:
        report_chart.write(report, chart)
    if args.timing:
        _print_timing(report)
    return 0


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _print_timing(report: Report) -> None:
    t = report.timing
    print(
        f"read {int(t['fetched']):,} spans from Phoenix in {t['fetch_s']:.2f} s ({int(t['pages'])} pages), "
        f"aggregated {int(t['spans']):,} in {t['aggregate_s']:.2f} s, "
        f"Phoenix cost check {t['phoenix_cost_s']:.2f} s, "
        f"total {t['total_s']:.2f} s",
        file=sys.stderr,
    )


def _nothing(report: Report, output: str) -> None:
    """No span matched: one line (and still a well-formed JSON or CSV document)."""
    scope = ", ".join(f"{k}={v}" for k, v in report.filters.items())
    if report.window_start or report.window_end:
        window_text = f"{report.window_start or '...'} to {report.window_end or 'now'}"
        scope = f"{scope}, {window_text}" if scope else window_text
    line = f"no LLM requests in project {report.project!r} at {report.phoenix_url}" + (
        f" match {scope}" if scope else ""
    )
    if output == "table":
        print(line)
        return
    print(line, file=sys.stderr)
    sys.stdout.write(render.to_json(report) if output == "json" else render.to_csv(report))


def _emit(report: Report, output: str) -> None:
    if output == "json":
        sys.stdout.write(render.to_json(report))
    elif output == "csv":
        sys.stdout.write(render.to_csv(report))
    elif report.group_by == "session":
        sys.stdout.write(render.session_list(report))
    else:
        sys.stdout.write(render.table(report))
