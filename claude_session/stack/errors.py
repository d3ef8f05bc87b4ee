"""The errors this part raises."""

from __future__ import annotations

from claude_session.core.errors import ClaudeSessionError


class StackError(ClaudeSessionError):
    """A stack component could not be started, stopped or reached."""
