"""Running a session: the one use case behind `claude-session [OPTIONS] [PROMPT]` and each run
of an experiment.

Check the stack, build the environment that tags Claude Code's requests, remember the session,
run Claude Code (or the user's shell), then run the check and ask for a rating. The command
line parses and calls `run_session` once; the experiment runner calls it per run.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from claude_session.session import launcher, outcomes
from claude_session.session.check import CheckResult
from claude_session.stack.state import StatePaths


@dataclass(frozen=True)
class SessionRequest:
    session: launcher.Session
    claude_argv: Sequence[str] | None = None  # the whole claude command line; None: the user's shell
    check: str | None = None  # run with `sh -c` once claude or the shell exits; recorded as `check`
    ask_rating: bool = False  # ask for a 0-10 rating at the end (on a terminal only)
    cwd: Path | None = None  # where claude and the check run (default: here)
    extra_env: Mapping[str, str] = field(default_factory=dict)  # over the user's environment
    stdout: IO[bytes] | None = None  # claude's standard output (default: the terminal's)
    timeout: float | None = None  # seconds; claude's process group is killed after it


@dataclass(frozen=True)
class SessionResult:
    exit_code: int  # claude's (or the shell's); 124 after a timeout
    check: CheckResult | None
    check_recorded: bool
    score: float | None


def run_session(request: SessionRequest, state: StatePaths, environ: Mapping[str, str]) -> SessionResult:
    """Run one session against the recorded stack; SessionError (one line) when it cannot start."""
    # The shell's `claude` is resolved first: a bad CLAUDE_SESSION_CLAUDE stops before anything runs.
    shell_claude = launcher.claude_for_shell(environ) if request.claude_argv is None else None
    settings = launcher.require_running_stack(state)
    user_env = {**environ, **request.extra_env}
    env = launcher.session_env(request.session, settings, state, user_env)
    _remember(state, request.session)
    if request.claude_argv is not None:
        print(f"claude-session: {request.session.id} ({request.session.label()})", file=sys.stderr)
        code = launcher.run_one_off(
            env, request.claude_argv, cwd=request.cwd, stdout=request.stdout, timeout=request.timeout
        )
    else:
        code = launcher.run_shell(env, request.session, shell_claude)
    after = outcomes.after_session(
        request.session.id, settings, user_env, request.check, request.ask_rating, cwd=request.cwd
    )
    return SessionResult(code, after.check, after.check_recorded, after.score)


def _remember(state: StatePaths, session: launcher.Session) -> None:
    """Record the last session for `rate` without an id; never worth stopping the session for."""
    try:
        launcher.record_last_session(state, session)
    except OSError as err:
        print(
            f"claude-session: warning: cannot record this session in {state.last_session} "
            f"({err.strerror or err}); `claude-session rate` will need its id",
            file=sys.stderr,
        )
