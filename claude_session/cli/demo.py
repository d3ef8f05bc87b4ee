"""`claude-session demo`: the offline demo on a private stack.

Starts Phoenix, the patched proxy and the fake upstream on free ports with their
own state directory (.state/demo in the checkout), runs the real Claude Code CLI
through the launcher for two prompt versions of a code review, prints the
comparison report, and stops what it started unless --keep is given.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from claude_session.cli.context import Context
from claude_session.core.errors import ClaudeSessionError
from claude_session.phoenix.client import PhoenixClient
from claude_session.session.launcher import REPO, find_claude
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

DEMO_STATE = REPO / ".state" / "demo"
PROJECT = "claude-session-demo"
PROMPTS = {
    "v1": ["Review the authentication module", "Review the session store"],
    "v2": [
        "Review the authentication module for: 1) security vulnerabilities 2) performance issues "
        "3) code quality 4) best practices",
        "Review the session store for: 1) security vulnerabilities 2) performance issues "
        "3) code quality 4) best practices",
    ],
}
SESSIONS_PER_VERSION = 10  # enough for the intervals to say something; the versions alternate
POOL = 3  # sessions run at once
# Token usage the fake upstream reports per request ([[usage:...]] directive): v2's focused prompt
# reads and writes less; each session varies around it (deterministic noise, sd ~15%).
USAGE = {
    "v1": {"in": 3_000, "out": 700, "cache_read": 24_000, "cache_write": 3_000},
    "v2": {"in": 2_400, "out": 560, "cache_read": 19_000, "cache_write": 2_400},
}
FAILS_EVERY = {"v1": 3, "v2": 5}  # every Nth session's `--check` fails (false), the others pass (true)


def session_prompt(version: str, index: int) -> str:
    """The prompt of one demo session: the version's text and its usage directive."""
    noise = random.Random(f"{version}-{index}").lognormvariate(0.0, 0.15)
    usage = " ".join(f"{key}={round(value * noise)}" for key, value in USAGE[version].items())
    return f"{PROMPTS[version][index % len(PROMPTS[version])]} [[usage {usage}]]"


def session_check(version: str, index: int) -> str:
    return "false" if index % FAILS_EVERY[version] == FAILS_EVERY[version] - 1 else "true"


def main(argv: list[str], ctx: Context) -> int:
    from claude_session.cli.parser import Parser

    parser = Parser(prog="claude-session demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the demo stack running to browse Phoenix")
    args = parser.parse_args(argv)
    demo_stack = private_offline_stack(DEMO_STATE, PROJECT, ctx, "demo")
    settings, state, env = demo_stack.settings, demo_stack.state, dict(demo_stack.environ)
    try:
        demo_stack.up()
        sessions = _run_prompts(env, settings.workers)
        _wait_for_spans(settings, sessions)
        print()
        from claude_session.cli import report

        status = report.main(
            [
                "--phoenix-url",
                settings.phoenix_base,
                "--project",
                PROJECT,
                "--type",
                "code-review",
                "--name",
                "demo",
                "--baseline",
                "v1",
            ],
            Context(environ=env, state=state),
        )
        print(f"\nPhoenix: {settings.phoenix_base} (project {PROJECT})")
        if args.keep:
            print(
                f"the demo stack keeps running; stop it with: CLAUDE_SESSION_STATE_DIR={DEMO_STATE} "
                "scripts/claude-session down"
            )
        return status
    finally:
        if not args.keep:
            stopped = demo_stack.down()
            print(f"demo: stopped {', '.join(stopped)}", file=sys.stderr)


def private_offline_stack(directory: Path, project: str, ctx: Context, what: str) -> LocalStack:
    """A fresh offline stack on free ports in its own state `directory` (not started yet), for a
    demo: refused while one runs there; each demo starts from an empty Phoenix, so its numbers
    are its own; the user's session settings and Anthropic variables are left out."""
    find_claude(ctx.environ)  # fail before starting anything
    state = StatePaths(directory)
    if StackSettings.recorded(state) and procs.read_pid(state.pid_file("proxy")):
        raise ClaudeSessionError(
            f"a {what} stack is already running; stop it with `CLAUDE_SESSION_STATE_DIR={directory} "
            "scripts/claude-session down`"
        )
    shutil.rmtree(directory, ignore_errors=True)
    settings = StackSettings.on_free_ports(offline=True, project=project)
    env = {k: v for k, v in ctx.environ.items() if not k.startswith(("PHOENIX_SESSION", "ANTHROPIC_"))}
    env.pop("PHOENIX_PROMPT_VERSION", None)
    env["CLAUDE_SESSION_STATE_DIR"] = str(directory)
    print(f"{what}: starting a fresh private offline stack in {directory}", file=sys.stderr)
    return LocalStack(settings, state, env)


def _run_prompts(env: dict[str, str], workers: int) -> list[str]:
    """Each prompt is one `claude-session -t code-review -v VERSION -n demo PROMPT`, in a fresh HOME.

    Warm-up sessions go first, one at a time (two per proxy worker ; type `demo-warm-up`, left
    out of the report); then SESSIONS_PER_VERSION per version, the versions alternating, POOL
    at a time, each with `--check true` or `--check false` (its outcome, recorded in Phoenix).
    """
    warm_up = [("demo-warm-up", "v0", "Say hi", None)] * (2 * max(1, workers))
    runs = [
        ("code-review", version, session_prompt(version, i), session_check(version, i))
        for i in range(SESSIONS_PER_VERSION)
        for version in PROMPTS
    ]
    with tempfile.TemporaryDirectory(prefix="claude-session-demo-") as homes:

        def one(kind: str, version: str, prompt: str, check: str | None) -> str:
            # Each run its own HOME: Claude Code keeps state there, and runs overlap.
            home = tempfile.mkdtemp(dir=homes)
            run_env = {
                **env,
                "HOME": home,
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_TELEMETRY": "1",
                "DISABLE_AUTOUPDATER": "1",
            }
            argv = [str(REPO / "scripts" / "claude-session"), "-t", kind, "-v", version, "-n", "demo"]
            argv += ["--check", check] if check else []
            print(f'demo: claude-session {" ".join(argv[1:])} "{prompt[:48]}"', file=sys.stderr)
            result = subprocess.run(
                [*argv, prompt],
                env=run_env,
                cwd=home,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=300,
            )
            if result.returncode != 0:
                detail = (result.stderr.strip() or result.stdout.strip())[-300:]
                raise ClaudeSessionError(f"claude exited {result.returncode}: {detail}")
            return result.stderr.split("claude-session: ", 1)[1].split(" ", 1)[0]

        sessions = [one(*run) for run in warm_up]
        with ThreadPoolExecutor(max_workers=POOL) as pool:
            sessions += list(pool.map(lambda run: one(*run), runs))
    return sessions


def _wait_for_spans(settings: StackSettings, sessions: list[str], timeout: float = 60) -> None:
    """Spans reach Phoenix in batches every few seconds: wait until every session has one."""
    print("demo: waiting for the spans to reach Phoenix...", file=sys.stderr)
    client = PhoenixClient(settings.phoenix_base)
    deadline = time.monotonic() + timeout
    missing = list(sessions)
    while missing and time.monotonic() < deadline:
        missing = [s for s in missing if not any(True for _ in client.spans(PROJECT, {"session.id": s}))]
        if missing:
            time.sleep(1)
    if missing:
        raise ClaudeSessionError(
            f"no span reached Phoenix for {len(missing)} demo session(s) in {int(timeout)} s"
        )
