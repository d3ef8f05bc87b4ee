"""The errors this part raises."""

from __future__ import annotations

from claude_session.core.errors import ClaudeSessionError


class PhoenixError(ClaudeSessionError):
    """Phoenix could not be reached, refused a request or answered something unexpected."""
