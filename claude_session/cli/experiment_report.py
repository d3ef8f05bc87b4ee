"""`claude-session experiment report`: the verdict of an experiment from its ledger.

Reads the runner's ledger (JSON lines, one RunRecord per finished run), builds the report
(claude_session.experiment.report) and prints it as a table, JSON or CSV, with an optional
PNG/SVG chart. Nothing is read from Phoenix: the ledger carries each run's figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from claude_session.cli.context import Context
from claude_session.cli.parser import Parser
from claude_session.experiment import render, stats
from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.ledger_reader import read_ledger
from claude_session.experiment.report import build_experiment_report

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
  claude-session experiment report --ledger state/ledger.jsonl --baseline v1
  claude-session experiment report --ledger ledger.jsonl --baseline v1 --format csv > runs.csv
  claude-session experiment report --ledger ledger.jsonl --baseline v1 --chart verdict.svg"""

CHART_SUFFIXES = (".png", ".svg")


def build_parser(prog: str = "claude-session experiment report") -> Parser:
    parser = Parser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--ledger", type=Path, required=True, metavar="PATH", help="the runner's ledger (JSON lines)"
    )
    parser.add_argument(
        "-b",
        "--baseline",
        metavar="VARIANT",
        help="the variant the others are compared with (needed with two or more)",
    )
    parser.add_argument("-f", "--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--chart", type=Path, metavar="FILE", help="also draw a .png or .svg chart")
    return parser


def main(argv: list[str], ctx: Context) -> int:
    del ctx  # the ledger is the whole input
    args = build_parser().parse_args(argv)
    if args.chart is not None and args.chart.suffix.lower() not in CHART_SUFFIXES:
        raise ExperimentError(f"--chart {args.chart}: the chart is a .png or .svg file", exit_code=2)
    ledger = read_ledger(args.ledger)
    if not ledger.records:
        raise ExperimentError(f"--ledger {args.ledger}: no finished run in it yet")
    variants = list(dict.fromkeys(r.variant for r in ledger.records))
    tasks = list(dict.fromkeys(r.task for r in ledger.records))
    baseline = args.baseline
    if baseline is None:
        if len(variants) > 1:
            raise ExperimentError(f"--baseline: name the baseline, one of {', '.join(variants)}", exit_code=2)
        baseline = variants[0]
    if baseline not in variants:
        raise ExperimentError(
            f"--baseline {baseline}: no run of that variant in the ledger (it has {', '.join(variants)})",
            exit_code=2,
        )
    variants = [baseline, *(v for v in variants if v != baseline)]
    report = build_experiment_report(ledger.records, tasks, variants, baseline, ledger.budget_reached)
    output = {"json": render.to_json, "csv": render.to_csv}.get(args.format, render.table)
    sys.stdout.write(output(report))
    if args.chart is not None:
        from claude_session.experiment import plot  # matplotlib: only when asked for

        plot.write(report, args.chart)
    return 0
