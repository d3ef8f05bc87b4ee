"""`claude-session experiment report FILE`: the verdict of an experiment from its ledger.

Reads the runner's ledger (JSON lines, one RunRecord per finished run), builds the report
(claude_session.experiment.report) and prints it as a table, JSON or CSV, with an optional
PNG/SVG chart; then brings Phoenix's experiments up to date with the finished runs (the tasks
as a dataset, one Phoenix experiment per variant) and prints the comparison's address.
The figures come from the ledger, which carries each run's cost as its spans gave it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from claude_session.cli.context import Context
from claude_session.cli.parser import Parser
from claude_session.experiment import render, spec, stats
from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.ledger_reader import read_ledger
from claude_session.experiment.phoenix_experiments import upload_experiment
from claude_session.experiment.records import RunRecord
from claude_session.experiment.report import build_experiment_report
from claude_session.experiment.runner import ledger_of
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.stack.settings import StackSettings

DESCRIPTION = f"""\
The verdict of an experiment from its ledger: per variant and per task the success rate,
pass@k and pass^k (k = the repetitions), cost per run and per success, the cost of the main
loop, sub-agents and the rest, turns, duration and cache-read share; then each variant against
the baseline: the success-rate difference and the cost ratio with {stats.LEVEL * 100:.0f}% intervals
(cluster bootstrap over tasks; Newcombe's interval for a single task), Holm-adjusted over the
variants, and a verdict: better, worse, equivalent (within ±{stats.SUCCESS_MARGIN * 100:.0f} points of
success, ±{stats.COST_MARGIN * 100:.0f}% of cost) or inconclusive. Runs that failed for infrastructure
reasons are left out and counted; an experiment the budget stopped is inconclusive."""

EXAMPLES = """\
examples:
  claude-session experiment report experiment.toml
  claude-session experiment report experiment.toml --format csv > runs.csv
  claude-session experiment report experiment.toml --chart verdict.svg --no-phoenix
  claude-session experiment report --ledger ledger.jsonl --baseline v1   (a copied ledger)"""

CHART_SUFFIXES = (".png", ".svg")


def build_parser(prog: str = "claude-session experiment report") -> Parser:
    parser = Parser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "file", nargs="?", type=Path, metavar="FILE", help="the experiment file (its ledger, tasks, baseline)"
    )
    parser.add_argument(
        "--ledger",
        type=Path,
        action="append",
        metavar="PATH",
        help="read this ledger (JSON lines) instead of FILE's; repeat it to combine the ledgers of "
        "shards run on other machines",
    )
    parser.add_argument(
        "-b",
        "--baseline",
        metavar="VARIANT",
        help="the variant the others are compared with (default: FILE's baseline; needed with "
        "--ledger and two or more variants)",
    )
    parser.add_argument(
        "--no-phoenix",
        action="store_true",
        help="do not bring Phoenix's experiments up to date (default: with FILE and a running stack)",
    )
    parser.add_argument("-f", "--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--chart", type=Path, metavar="FILE", help="also draw a .png or .svg chart")
    return parser


def main(argv: list[str], ctx: Context) -> int:
    args = build_parser().parse_args(argv)
    if args.chart is not None and args.chart.suffix.lower() not in CHART_SUFFIXES:
        raise ExperimentError(f"--chart {args.chart}: the chart is a .png or .svg file", exit_code=2)
    if args.file is None and not args.ledger:
        raise ExperimentError("give the experiment FILE, --ledger PATH, or both", exit_code=2)
    experiment = spec.load(args.file) if args.file is not None else None
    paths = args.ledger or [ledger_of(ctx.state, experiment.name).path]  # type: ignore[union-attr]
    ledger = read_ledger(*paths)
    if not ledger.records:
        raise ExperimentError(f"{', '.join(map(str, paths))}: no finished run in it yet")
    if experiment is not None:
        variants = [v.name for v in experiment.variants]
        tasks = [t.id for t in experiment.tasks]
        default_baseline: str | None = experiment.baseline.name
    else:
        variants = list(dict.fromkeys(r.variant for r in ledger.records))
        tasks = list(dict.fromkeys(r.task for r in ledger.records))
        default_baseline = variants[0] if len(variants) == 1 else None
    baseline = args.baseline or default_baseline
    if baseline is None:
        raise ExperimentError(f"--baseline: name the baseline, one of {', '.join(variants)}", exit_code=2)
    if baseline not in variants:
        raise ExperimentError(
            f"--baseline {baseline}: not a variant of this experiment ({', '.join(variants)})", exit_code=2
        )
    variants = [baseline, *(v for v in variants if v != baseline)]
    report = build_experiment_report(ledger.records, tasks, variants, baseline, ledger.budget_reached)
    output = {"json": render.to_json, "csv": render.to_csv}.get(args.format, render.table)
    sys.stdout.write(output(report))
    if args.chart is not None:
        from claude_session.experiment import plot  # matplotlib: only when asked for

        plot.write(report, args.chart)
    if experiment is not None and not args.no_phoenix:
        _to_phoenix(experiment, ledger.records, variants, baseline, ctx)
    return 0


def _to_phoenix(
    experiment: spec.Experiment,
    records: Sequence[RunRecord],
    variants: list[str],
    baseline: str,
    ctx: Context,
) -> None:
    """Phoenix's experiments brought up to date; one line where to see them (or why not)."""
    settings = StackSettings.recorded(ctx.state)
    if settings is None:
        print("claude-session: no stack recorded: Phoenix's experiments not updated", file=sys.stderr)
        return
    client = PhoenixClient(settings.phoenix_base, api_key=settings.phoenix_api_key(ctx.environ))
    tasks = [t.info() for t in experiment.tasks]
    try:
        upload = upload_experiment(
            client, experiment.name, tasks, variants, baseline, experiment.repetitions, records
        )
    except PhoenixError as err:
        print(f"claude-session: Phoenix's experiments not updated: {err}", file=sys.stderr)
        return
    print(f"\nin Phoenix, side by side: {upload.compare_url}")
