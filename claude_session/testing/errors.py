"""Errors of the test helpers (the in-process proxy harness, the threaded fake upstream)."""

from __future__ import annotations

from claude_session.core.errors import ClaudeSessionError


class HarnessError(ClaudeSessionError):
    """A test helper could not start, or what it started is not what it expected."""
