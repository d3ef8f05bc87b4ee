"""The errors this part raises."""

from __future__ import annotations

from claude_session.core.errors import ClaudeSessionError


class ExperimentError(ClaudeSessionError):
    """An experiment's ledger, statistics, report or upload could not be made."""
