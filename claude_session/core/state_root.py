"""Where the project keeps its per-user files (the state directory), for every layer that needs it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def state_dir(environ: Mapping[str, str]) -> Path:
    """$CLAUDE_SESSION_STATE_DIR, else $XDG_STATE_HOME/claude-session, else ~/.local/state/claude-session."""
    explicit = environ.get("CLAUDE_SESSION_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "claude-session"


REPORT_CACHE = "report-cache"  # under the state directory: one DuckDB file per Phoenix and project


def report_cache_dir(environ: Mapping[str, str]) -> Path:
    """The report cache's directory (report/cache)."""
    return state_dir(environ) / REPORT_CACHE
