"""The experiment runner's errors: printed by the command line as one line."""

from __future__ import annotations

from claude_session.core.errors import ClaudeSessionError


class ExperimentError(ClaudeSessionError):
    """An experiment cannot run or go on (exit 1)."""


class ExperimentFileError(ExperimentError):
    """The experiment file is wrong; refused before anything starts (exit 2)."""

    default_exit_code = 2
