"""`claude-session experiment init|run|status|report|demo`: controlled experiments of prompt variants."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from claude_session.cli.context import Context
from claude_session.cli.parser import Parser
from claude_session.core.errors import UsageError
from claude_session.experiment import example, spec
from claude_session.experiment.schedule import WHOLE, describe, parse_shard, plan

DESCRIPTION = """\
Run prompt variants on real tasks, controlled: every run in its own git worktree and HOME,
in randomized complete blocks drawn from the seed, each checked by the task's command,
within a spending cap; resumable (run again after Ctrl-C or a crash). See docs/experiments.md."""

EXAMPLES = """\
examples:
  claude-session experiment init                 writes experiment.toml and ./example-repo
  claude-session experiment run experiment.toml --dry-run
  claude-session experiment run experiment.toml -j 3
  claude-session experiment run experiment.toml --shard 1/2   (and 2/2 elsewhere)
  claude-session experiment status experiment.toml
  claude-session experiment report experiment.toml   (the verdict; --help for its options)
  claude-session experiment demo                     (offline, on a private stack, to a verdict)"""


def build_parser() -> Parser:
    parser = Parser(
        prog="claude-session experiment",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", metavar="init|run|status|report|demo", parser_class=Parser
    )
    commands.required = True
    init = commands.add_parser("init", help="write a commented example experiment and its example repository")
    init.add_argument(
        "file", nargs="?", default="experiment.toml", metavar="FILE", help="default: experiment.toml"
    )
    run = commands.add_parser("run", help="run the experiment's planned runs that are not done yet")
    run.add_argument("file", metavar="FILE")
    run.add_argument(
        "-j", "--jobs", type=int, metavar="N", help="runs at a time (default: the file's concurrency)"
    )
    run.add_argument("--keep-failed", action="store_true", help="keep failed runs' worktrees and print where")
    run.add_argument("--shard", default=str(WHOLE), metavar="I/N", help="run only shard I of N (by block)")
    run.add_argument("--dry-run", action="store_true", help="print the schedule and start nothing")
    status = commands.add_parser("status", help="done / running / left, spend so far, time per run")
    status.add_argument("file", metavar="FILE")
    commands.add_parser(
        "report",
        help="the verdict per variant against the baseline, and the runs in Phoenix's experiments",
        add_help=False,  # listed here; cli/main.py sends it to cli/experiment_report.py
    )
    commands.add_parser(
        "demo", help="a small experiment offline on a private stack, to its verdict", add_help=False
    )
    return parser


def main(argv: list[str], ctx: Context) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "init":
        return cmd_init(Path(args.file), ctx)
    experiment = spec.load(Path(args.file))
    if args.command == "status":
        return cmd_status(experiment, ctx)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("-j: give at least 1")
    shard = parse_shard(args.shard)
    if args.dry_run:
        runs = plan(experiment, shard)
        print(
            f"experiment {experiment.name}: {len(runs)} runs"
            + ("" if shard == WHOLE else f" (shard {shard})")
        )
        print("\n".join(describe(runs)))
        return 0
    return cmd_run(experiment, ctx, shard, args.jobs, args.keep_failed)


def cmd_init(target: Path, ctx: Context) -> int:
    made = example.init(target, ctx.environ)
    for path in made:
        print(f"wrote {path}")
    print(f"next: claude-session up --offline && claude-session experiment run {target} --dry-run")
    return 0


def cmd_status(experiment: spec.Experiment, ctx: Context) -> int:
    from claude_session.experiment.runner import experiment_dir, ledger_of
    from claude_session.experiment.status import status_of

    history = ledger_of(ctx.state, experiment.name).replay()
    for line in status_of(experiment, history, experiment_dir(ctx.state, experiment.name)).lines(
        experiment.name
    ):
        print(line)
    return 0


def cmd_run(
    experiment: spec.Experiment, ctx: Context, shard: object, jobs: int | None, keep_failed: bool
) -> int:
    from claude_session.experiment.runner import Runner
    from claude_session.experiment.schedule import Shard
    from claude_session.phoenix.client import PhoenixClient
    from claude_session.session import launcher

    assert isinstance(shard, Shard)
    claude = launcher.find_claude(ctx.environ)
    settings = launcher.require_running_stack(ctx.state)
    phoenix = PhoenixClient(settings.phoenix_base, api_key=settings.phoenix_api_key(ctx.environ))
    runner = Runner(experiment, settings, ctx.state, ctx.environ, phoenix, claude, shard, jobs, keep_failed)
    try:
        summary = runner.run()
    except KeyboardInterrupt:
        print(
            f"claude-session: experiment {experiment.name} interrupted; its runs in flight were stopped and "
            f"their worktrees removed; `experiment run {experiment.path}` continues it",
            file=sys.stderr,
        )
        return 130
    verdict = "stopped: budget reached" if summary.budget_stopped else "finished"
    print(
        f"experiment {experiment.name}{'' if shard == WHOLE else f' shard {shard}'} {verdict}: "
        f"{summary.done} of {summary.planned} runs done, "
        f"${summary.spent_usd:.4f} spent of ${experiment.budget_usd:.2f}"
    )
    return 0
