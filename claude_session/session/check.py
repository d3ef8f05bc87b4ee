"""`--check CMD`: a command run after Claude Code finishes, whose exit code is the session's outcome."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SHELL = "/bin/sh"
NOT_FOUND = 127  # what sh exits with when the command does not exist
MAX_RECORDED_COMMAND = 500  # characters of the command kept in the annotation


@dataclass(frozen=True)
class CheckResult:
    command: str
    exit_code: int
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def missing(self) -> bool:
        """sh could not find the command: no outcome to record."""
        return self.exit_code == NOT_FOUND

    def summary(self) -> str:
        verdict = "passed" if self.passed else "failed"
        return f"check {verdict} (exit {self.exit_code}, {self.duration_s:.1f}s)"

    def explanation(self) -> str:
        return f"`{self.recorded_command()}` exited {self.exit_code} after {self.duration_s:.1f}s"

    def recorded_command(self) -> str:
        if len(self.command) <= MAX_RECORDED_COMMAND:
            return self.command
        return self.command[: MAX_RECORDED_COMMAND - 3] + "..."


def run_check(command: str, environ: Mapping[str, str], cwd: Path | None = None) -> CheckResult:
    """`sh -c COMMAND` in `cwd` (default: here) with `environ`; its output goes to the terminal.

    Interrupting the check (Ctrl-C) makes it a failure with exit code 130.
    """
    started = time.monotonic()
    try:
        code = subprocess.call([SHELL, "-c", command], env=dict(environ), cwd=cwd)
    except KeyboardInterrupt:
        code = 130
    if code < 0:  # killed by a signal: report it the way a shell does
        code = 128 - code
    return CheckResult(command, code, time.monotonic() - started)
