"""`claude-session experiment demo`: a small experiment, offline, from start to verdict.

Starts a private offline stack (its own state directory, .state/experiment-demo in the
checkout), writes the example experiment (two variants of CLAUDE.md, two tasks on the example
repository, three repetitions each) into a temporary directory, runs it with the real Claude
Code CLI against the fake upstream (whose `[[solve p=X]]` directive fixes the example bug with
the variant's probability), prints the verdict and the address of Phoenix's experiment
comparison, and stops what it started unless --keep is given.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from claude_session.cli import experiment, experiment_report
from claude_session.cli.context import Context
from claude_session.cli.parser import Parser
from claude_session.core.errors import ClaudeSessionError
from claude_session.experiment import example
from claude_session.session.launcher import REPO, find_claude
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

DEMO_STATE = REPO / ".state" / "experiment-demo"
PROJECT = "claude-session-experiment-demo"
JOBS = "3"


def main(argv: list[str], ctx: Context) -> int:
    parser = Parser(prog="claude-session experiment demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the demo stack running to browse Phoenix")
    args = parser.parse_args(argv)
    find_claude(ctx.environ)  # fail before starting anything
    state = StatePaths(DEMO_STATE)
    if StackSettings.recorded(state) and procs.read_pid(state.pid_file("proxy")):
        raise ClaudeSessionError(
            f"an experiment demo stack is already running; stop it with "
            f"`CLAUDE_SESSION_STATE_DIR={DEMO_STATE} scripts/claude-session down`"
        )
    shutil.rmtree(DEMO_STATE, ignore_errors=True)  # each demo starts from an empty Phoenix
    settings = StackSettings.on_free_ports(offline=True, project=PROJECT)
    env = {k: v for k, v in ctx.environ.items() if not k.startswith(("PHOENIX_SESSION", "ANTHROPIC_"))}
    env.pop("PHOENIX_PROMPT_VERSION", None)
    env["CLAUDE_SESSION_STATE_DIR"] = str(DEMO_STATE)
    demo_ctx = Context(environ=env, state=state)
    print(f"experiment demo: starting a fresh private offline stack in {DEMO_STATE}", file=sys.stderr)
    stack = LocalStack(settings, state, env)
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
