"""The errors this part raises."""

from __future__ import annotations

from claude_session.core.errors import ClaudeSessionError


class SessionError(ClaudeSessionError):
    """A session could not be started: a bad value, or something it needs is missing."""
