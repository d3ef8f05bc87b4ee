"""The proxy process's settings, read once from its environment (the stack sets it).

The proxy is LiteLLM's process, not ours: this module is its edge, the one place
where proxy-side code reads the environment.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claude_session.core import fields

_log = logging.getLogger("LiteLLM")

DEFAULT_SPOOL_MAX_MB = 512.0


@dataclass(frozen=True)
class ProxySettings:
    # The proxy-wide session (PHOENIX_SESSION_*): every request's default.
    session_defaults: Mapping[str, str] = field(default_factory=dict)
    # Prices for models newer than the bundled maps (CLAUDE_SESSION_PRICES).
    prices_file: Path | None = None
    # The proxy-wide session set without a restart (CLAUDE_SESSION_PROXY_SESSION_FILE).
    proxy_session_file: Path | None = None
    # Guards the proxy-wide session endpoint (LITELLM_MASTER_KEY); never printed.
    master_key: str | None = field(default=None, repr=False)
    # Failed span export batches wait here for Phoenix (CLAUDE_SESSION_SPOOL_DIR; unset: no spool).
    spool_dir: Path | None = None
    # The spool's size cap (CLAUDE_SESSION_SPOOL_MAX_MB); past it the oldest spans are dropped.
    spool_max_bytes: int = int(DEFAULT_SPOOL_MAX_MB * 2**20)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProxySettings:
        """A bad proxy-wide value is logged and ignored (the launcher refuses it before this)."""
        try:
            defaults = fields.from_env(environ)
        except fields.InvalidSessionValue as err:
            _log.warning("claude-session: ignoring proxy-wide session defaults: %s", err)
            defaults = {}
        if defaults and fields.SESSION_ID.key not in defaults:
            # As the launcher does: a session always has an id and a type.
            session_type = defaults.setdefault(fields.SESSION_TYPE.key, fields.DEFAULT_TYPE)
            defaults[fields.SESSION_ID.key] = fields.new_session_id(session_type)
        prices = environ.get("CLAUDE_SESSION_PRICES")
        session_file = environ.get("CLAUDE_SESSION_PROXY_SESSION_FILE")
        spool_dir = environ.get("CLAUDE_SESSION_SPOOL_DIR")
        return cls(
            session_defaults=defaults,
            prices_file=Path(prices) if prices else None,
            proxy_session_file=Path(session_file) if session_file else None,
            master_key=environ.get("LITELLM_MASTER_KEY") or None,
            spool_dir=Path(spool_dir) if spool_dir else None,
            spool_max_bytes=_spool_max_bytes(environ.get("CLAUDE_SESSION_SPOOL_MAX_MB")),
        )


def _spool_max_bytes(value: str | None) -> int:
    """CLAUDE_SESSION_SPOOL_MAX_MB (a positive number, fractions allowed); a bad value is logged."""
    megabytes = DEFAULT_SPOOL_MAX_MB
    if value:
        try:
            megabytes = float(value)
            if not megabytes > 0:
                raise ValueError(value)
        except ValueError:
            _log.warning(
                "claude-session: ignoring CLAUDE_SESSION_SPOOL_MAX_MB=%r (not a positive number)",
                value,
            )
            megabytes = DEFAULT_SPOOL_MAX_MB
    return int(megabytes * 2**20)


@functools.cache
def proxy_settings() -> ProxySettings:
    """This process's settings, read on first use."""
    return ProxySettings.from_environ(os.environ)
