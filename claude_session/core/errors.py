"""The package's exception hierarchy: the command line prints any of them as one line.

Each part raises its own subclass (PhoenixError, StackError, ReportError, SessionError);
only the command line decides how an error reaches the user.
"""

from __future__ import annotations


class ClaudeSessionError(Exception):
    """Something the user can fix or must know; printed as one line, never as a traceback."""

    default_exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = self.default_exit_code if exit_code is None else exit_code


class UsageError(ClaudeSessionError):
    """A bad option or value, refused before anything runs (exit code 2)."""

    default_exit_code = 2
