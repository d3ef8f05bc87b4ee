"""What a stack is made of: ports, upstream, Phoenix, project, workers. Resolved once, recorded.

`StackSettings.from_env` reads the environment mapping the command line hands it (never
`os.environ` itself); `up` records the result in the state directory's stack.json, and
every later command (`--proxy-wide`, `--reset`, `status`, `down`) works from that record,
so a command run from another shell cannot restart the proxy against another upstream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from claude_session.core.prices import ModelPrice, load_extra_prices
from claude_session.phoenix.keys import resolve_api_key
from claude_session.proxy.config import ANTHROPIC_API
from claude_session.stack import procs
from claude_session.stack.errors import StackError
from claude_session.stack.state import StatePaths, read_json, write_json

DEFAULT_PROJECT = "claude-code"
# stack.json's layout: bump it when a field changes meaning or a needed field is added.
SCHEMA = 1
SCHEMA_KEY = "schema"
# One proxy worker: each is a 450-650 MB process (a second one doubled the proxy's RSS to 2.2-2.6x
# stock's), one Claude Code user's keep-alive connection stays on one worker anyway, and with patch
# 0010 one worker serves concurrency 8 (bench/README.md "## proxy overhead").
# CLAUDE_SESSION_PROXY_WORKERS overrides.
DEFAULT_WORKERS = 1

_TRUE = ("1", "true", "yes")


@dataclass(frozen=True)
class StackSettings:
    proxy_port: int = 4000
    phoenix_port: int = 6006
    phoenix_grpc_port: int = 4317
    upstream_port: int = 8089
    offline: bool = False
    phoenix_url: str | None = None  # an external Phoenix: none is started
    project: str = DEFAULT_PROJECT
    workers: int = DEFAULT_WORKERS
    prices_file: str | None = None  # extra model prices (YAML), for models newer than the price maps
    docker: bool = False  # containers from compose.yaml (`up --docker`) instead of local processes
    phoenix_auth: bool = False  # the started Phoenix requires an API key (`up --phoenix-auth`)
    # Where Phoenix's API key is (a 0600 file; never the key itself). None: PHOENIX_API_KEY, if set.
    phoenix_api_key_file: str | None = None
    # Where the proxy forwards when online: Anthropic, or a gateway in front of it.
    anthropic_url: str = ANTHROPIC_API
    # Phoenix's database: None = SQLite in the state directory; "postgres" = the private cluster
    # (`up --postgres`, served on postgres_port); else an existing server's URL, password
    # redacted (`up --database`; the URL itself is in the state directory's 0600 database_url).
    database: str | None = None
    postgres_port: int = 0

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def phoenix_base(self) -> str:
        return (self.phoenix_url or f"http://127.0.0.1:{self.phoenix_port}").rstrip("/")

    @property
    def upstream_url(self) -> str:
        return f"http://127.0.0.1:{self.upstream_port}" if self.offline else self.anthropic_url

    def replace(self, **changes: Any) -> StackSettings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> StackSettings:
        """Defaults, overridden by CLAUDE_SESSION_* and PHOENIX_PROJECT_NAME in `environ`."""
        base = cls()

        def number(var: str, default: int) -> int:
            return _port_or_count(var, environ[var]) if environ.get(var) else default

        return cls(
            proxy_port=number("CLAUDE_SESSION_PROXY_PORT", base.proxy_port),
            phoenix_port=number("CLAUDE_SESSION_PHOENIX_PORT", base.phoenix_port),
            phoenix_grpc_port=number("CLAUDE_SESSION_PHOENIX_GRPC_PORT", base.phoenix_grpc_port),
            upstream_port=number("CLAUDE_SESSION_UPSTREAM_PORT", base.upstream_port),
            workers=number("CLAUDE_SESSION_PROXY_WORKERS", base.workers),
            offline=environ.get("CLAUDE_SESSION_OFFLINE", "") in _TRUE,
            phoenix_url=environ.get("CLAUDE_SESSION_PHOENIX_URL") or None,
            project=environ.get("PHOENIX_PROJECT_NAME") or DEFAULT_PROJECT,
            prices_file=environ.get("CLAUDE_SESSION_PRICES") or None,
            phoenix_api_key_file=environ.get("CLAUDE_SESSION_PHOENIX_API_KEY_FILE") or None,
            anthropic_url=environ.get("CLAUDE_SESSION_ANTHROPIC_URL") or ANTHROPIC_API,
        )

    @classmethod
    def on_free_ports(cls, **overrides: Any) -> StackSettings:
        """A private stack on free 127.0.0.1 ports (the demo, tests, benchmarks)."""
        free = cls(
            proxy_port=procs.free_port(),
            phoenix_port=procs.free_port(),
            phoenix_grpc_port=procs.free_port(),
            upstream_port=procs.free_port(),
        )
        return dataclasses.replace(free, **overrides)

    @classmethod
    def recorded(cls, state: StatePaths) -> StackSettings | None:
        """The settings `up` recorded; StackError when another version wrote them in a form
        this one does not read (the file written before schemas were numbered is schema 1)."""
        data = read_json(state.stack)
        if not data:
            return None
        schema = data.get(SCHEMA_KEY, 1)
        if schema != SCHEMA:
            raise StackError(
                f"{state.stack} was written by another version of claude-session (schema {schema}; "
                f"this one reads {SCHEMA}): stop that stack with the version that started it, "
                "or remove the file"
            )
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def record(self, state: StatePaths) -> None:
        write_json(state.stack, {SCHEMA_KEY: SCHEMA, **asdict(self)})

    def phoenix_api_key(self, environ: Mapping[str, str]) -> str | None:
        """Phoenix's API key: from the recorded key file, else PHOENIX_API_KEY in `environ`."""
        return resolve_api_key(environ, self.phoenix_api_key_file)

    def extra_prices(self) -> list[ModelPrice]:
        """The price file's models (a bad file raises here, before anything starts)."""
        return load_extra_prices(Path(self.prices_file)) if self.prices_file else []

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _port_or_count(var: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StackError(f"{var} must be a number between 1 and 65535", exit_code=2)
    return int(value)
