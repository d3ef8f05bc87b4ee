"""The errors the report cache raises (the report falls back to Phoenix on each)."""

from __future__ import annotations

from claude_session.report.errors import ReportError


class CacheError(ReportError):
    """The cache file cannot be used as it is (it is then rebuilt)."""


class CacheBusy(CacheError):
    """Another report holds the cache file's lock (this report reads Phoenix directly)."""
