"""Where the local stack keeps its files, and the proxy's master key.

Layout of the state directory (default ~/.local/state/claude-session, or
$CLAUDE_SESSION_STATE_DIR):

    master_key           the proxy's key, mode 0600, generated once
    phoenix_secret, phoenix_admin_password, phoenix_api_key
                         an authenticated Phoenix's (`up --phoenix-auth`) secrets, mode 0600
    stack.json           ports and upstream of the running stack
    proxy_session.json   the active proxy-wide session, if any
    last_session.json    the last session the launcher started here (`rate` without an id)
    litellm.yaml         the generated proxy config (holds no secret)
    phoenix/             Phoenix's working directory (SQLite database)
    database_url         Phoenix's PostgreSQL URL, password included, mode 0600 (`up --postgres`/`--database`)
    postgres/            the private PostgreSQL cluster of `up --postgres` (stack/postgres.py)
    run/*.pid, logs/*.log
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_session.core.state_root import REPORT_CACHE, report_cache_dir, state_dir

__all__ = ["StatePaths", "master_key", "paths", "read_json", "report_cache_dir", "state_dir", "write_json"]


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def master_key(self) -> Path:
        return self.root / "master_key"

    @property
    def stack(self) -> Path:
        return self.root / "stack.json"

    @property
    def proxy_session(self) -> Path:
        return self.root / "proxy_session.json"

    @property
    def last_session(self) -> Path:
        return self.root / "last_session.json"

    @property
    def proxy_config(self) -> Path:
        return self.root / "litellm.yaml"

    @property
    def phoenix_secret(self) -> Path:
        return self.root / "phoenix_secret"

    @property
    def phoenix_admin_password(self) -> Path:
        return self.root / "phoenix_admin_password"

    @property
    def phoenix_api_key(self) -> Path:
        return self.root / "phoenix_api_key"

    @property
    def phoenix_dir(self) -> Path:
        return self.root / "phoenix"

    @property
    def spool(self) -> Path:
        """Span batches waiting for Phoenix (the proxy's CLAUDE_SESSION_SPOOL_DIR)."""
        return self.root / "spool"

    @property
    def report_cache(self) -> Path:
        """The report cache (report/cache): span summaries per Phoenix and project, mode 0700."""
        return self.root / REPORT_CACHE

    def pid_file(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def ensure(self) -> None:
        for sub in (self.root, self.root / "run", self.root / "logs", self.phoenix_dir):
            sub.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)


def paths(environ: Mapping[str, str]) -> StatePaths:
    return StatePaths(state_dir(environ))


def master_key(state: StatePaths, create: bool = True) -> str | None:
    """The proxy's master key: random, `sk-` prefixed (LiteLLM requires it), never a well-known one."""
    if state.master_key.exists():
        return state.master_key.read_text().strip()
    if not create:
        return None
    state.ensure()
    key = "sk-cs-" + secrets.token_urlsafe(32)
    fd = os.open(state.master_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` whole. Each writer has its own temporary file: launchers started together
    (the demo runs three at a time) record the last session at the same moment."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
