"""What `status` adds about reports: the report cache (where, how big) and Phoenix's retention."""

from __future__ import annotations

from typing import Any

from claude_session.cli.context import Context, phoenix_target
from claude_session.core.errors import ClaudeSessionError
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.retention import read_retention
from claude_session.report.cache.store import total_size
from claude_session.report.cache.sync import MAX_AGE


def report_cache(ctx: Context) -> dict[str, Any]:
    files, size = total_size(ctx.state.report_cache)
    return {"dir": str(ctx.state.report_cache), "files": files, "bytes": size, "max_age_days": MAX_AGE.days}


def describe_cache(ctx: Context) -> str:
    found = report_cache(ctx)
    return (
        f"{found['dir']} ({found['files']} file{'s' if found['files'] != 1 else ''}, "
        f"{found['bytes'] / 2**20:.1f} MB; spans older than {found['max_age_days']} days are dropped "
        "and read from Phoenix when a report needs them)"
    )


def retention(ctx: Context) -> str:
    """The project's retention policy in Phoenix, or why it could not be read (one line)."""
    where = phoenix_target(None, None, ctx)
    client = PhoenixClient(where.url, timeout=5.0, api_key=where.api_key)
    try:
        project_id = client.project_id(where.project)
        if project_id is None:
            return f"project {where.project!r} not in Phoenix yet"
        return f"project {where.project!r} " + read_retention(client, project_id, where.project).describe()
    except ClaudeSessionError as err:
        return f"not read ({err})"
