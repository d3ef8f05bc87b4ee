"""The errors this part raises."""

from __future__ import annotations

from claude_session.core.errors import ClaudeSessionError


class ReportError(ClaudeSessionError):
    """A report's selection, data or output could not be made."""
