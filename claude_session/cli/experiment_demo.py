"""`claude-session experiment demo`: a small experiment, offline, from start to verdict.

Starts a private offline stack (its own state directory, .state/experiment-demo in the
checkout), writes the example experiment (two variants of CLAUDE.md, two tasks on the example
repository, three repetitions each) into a temporary directory, runs it with the real Claude
Code CLI against the fake upstream (whose `[[solve p=X]]` directive fixes the example bug with
the variant's probability), prints the verdict and the address of Phoenix's experiment
comparison, and stops what it started unless --keep is given.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from claude_session.cli import experiment, experiment_report
from claude_session.cli.context import Context
from claude_session.cli.demo import private_offline_stack
from claude_session.cli.parser import Parser
from claude_session.experiment import example
from claude_session.session.launcher import REPO

DEMO_STATE = REPO / ".state" / "experiment-demo"
PROJECT = "claude-session-experiment-demo"
JOBS = "3"


def main(argv: list[str], ctx: Context) -> int:
    parser = Parser(prog="claude-session experiment demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the demo stack running to browse Phoenix")
    args = parser.parse_args(argv)
    stack = private_offline_stack(DEMO_STATE, PROJECT, ctx, "experiment demo")
    settings, env = stack.settings, dict(stack.environ)
    demo_ctx = Context(environ=env, state=stack.state)
    try:
        stack.up()
        with tempfile.TemporaryDirectory(prefix="claude-session-experiment-demo-") as work:
            file = Path(work) / "experiment.toml"
            for path in example.init(file, env):
                print(f"experiment demo: wrote {path}", file=sys.stderr)
            status = experiment.main(["run", str(file), "-j", JOBS], demo_ctx)
            if status != 0:
                return status
            print()
            status = experiment_report.main([str(file)], demo_ctx)
        if args.keep:
            print(
                f"the demo stack keeps running: Phoenix at {settings.phoenix_base}; stop it with "
                f"CLAUDE_SESSION_STATE_DIR={DEMO_STATE} scripts/claude-session down"
            )
        return status
    finally:
        if not args.keep:
            stopped = stack.down()
            print(f"experiment demo: stopped {', '.join(stopped)}", file=sys.stderr)
