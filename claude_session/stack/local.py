"""The local stack: Phoenix, the patched LiteLLM proxy and (offline) the fake upstream.

Each runs as a background process with a pid file and a log file in the state
directory, bound to 127.0.0.1, and is stopped by PID.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path

from claude_session.phoenix import pricing
from claude_session.phoenix.client import PhoenixClient
from claude_session.proxy import config as proxy_config
from claude_session.stack import procs
from claude_session.stack.errors import StackError
from claude_session.stack.proxy_env import proxy_env
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key, read_json
from claude_session.stack.status import ComponentStatus, StackStatus

# Start-up limits: Phoenix's first start migrates its database (~10 s here).
PHOENIX_START_TIMEOUT = 180.0
PROXY_START_TIMEOUT = 120.0
UPSTREAM_START_TIMEOUT = 30.0


def _bin(name: str) -> str:
    """An executable of the Python environment running us (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _check_port_free(port: int, what: str, option: str) -> None:
    if procs.port_in_use(port):
        raise StackError(
            f"port {port} for {what} is already in use by another program; choose another with {option}"
        )


def fake_upstream_argv(port: int, *options: str) -> list[str]:
    """The command that runs the bundled fake Anthropic upstream on 127.0.0.1:`port`."""
    return [
        sys.executable,
        "-m",
        "claude_session.testing.fake_upstream",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def proxy_argv(settings: StackSettings, config_file: Path) -> list[str]:
    """The command that runs the patched LiteLLM proxy (the stack and the bench use it)."""
    return [
        _bin("litellm"),
        "--config",
        str(config_file),
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.proxy_port),
        "--num_workers",
        str(settings.workers),
    ]


def register_prices(settings: StackSettings) -> list[str]:
    return pricing.register_missing_prices(PhoenixClient(settings.phoenix_base), settings.extra_prices())


class LocalStack:
    """The stack as local processes; `environ` is the environment they start from."""

    def __init__(self, settings: StackSettings, state: StatePaths, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.state = state
        self.environ = dict(environ)

    # --- the Stack interface ---

    def up(self) -> StackSettings:
        """Start what is not running yet: upstream (offline), Phoenix, prices, proxy."""
        recorded = StackSettings.recorded(self.state)
        if recorded and procs.read_pid(self.state.pid_file("proxy")):
            if recorded.docker:
                raise StackError("a Docker stack is recorded here; run `claude-session down` first")
            if recorded.offline != self.settings.offline:
                mode = "offline" if recorded.offline else "online"
                raise StackError(f"the stack is already running {mode}; run `claude-session down` first")
            self.settings = recorded
        self.state.ensure()
        master_key(self.state)
        self.settings.extra_prices()  # a bad price file stops here, before anything starts
        if self.settings.offline:
            self._start_upstream()
        self._start_phoenix()
        created = register_prices(self.settings)
        if created:
            print(f"registered {len(created)} Anthropic model prices in Phoenix", file=sys.stderr)
        self.settings.record(self.state)
        self._start_proxy(read_json(self.state.proxy_session), inherit_session_env=True)
        return self.settings

    def down(self) -> list[str]:
        """Stop every component this state directory started; return what was stopped."""
        return [name for name in ("proxy", "phoenix", "upstream") if procs.stop(self.state.pid_file(name))]

    def status(self) -> StackStatus:
        settings = self.settings
        checks = {
            "proxy": settings.proxy_url + "/health/liveliness",
            "phoenix": settings.phoenix_base + "/healthz",
            "upstream": settings.upstream_url + "/" if settings.offline else None,
        }
        components = {}
        for name, url in checks.items():
            if url is None:
                continue
            components[name] = ComponentStatus(
                url=url.rsplit("/health", 1)[0].rstrip("/"),
                healthy=procs.http_ok(url),
                pid=procs.read_pid(self.state.pid_file(name)),
                external=name == "phoenix" and settings.phoenix_url is not None,
            )
        return StackStatus(self.state, settings, components, read_json(self.state.proxy_session))

    def restart_proxy(self, session: Mapping[str, str] | None) -> None:
        """Restart the proxy with a new proxy-wide session, waiting for health (not sleeping)."""
        if not procs.read_pid(self.state.pid_file("proxy")):
            raise StackError("the proxy is not running; start the stack with `claude-session up`")
        procs.stop(self.state.pid_file("proxy"))
        _wait_port_released(self.settings.proxy_port)
        self._start_proxy(dict(session) if session is not None else None, inherit_session_env=False)

    # --- the components ---

    def _start_upstream(self) -> None:
        pid_file, log_file = self.state.pid_file("upstream"), self.state.log_file("upstream")
        if procs.read_pid(pid_file):
            return
        _check_port_free(self.settings.upstream_port, "the offline upstream", "--upstream-port")
        argv = fake_upstream_argv(self.settings.upstream_port)
        pid = procs.start("fake upstream", argv, self.environ, pid_file, log_file)
        procs.wait_healthy(
            "the offline fake Anthropic upstream",
            self.settings.upstream_url + "/",
            pid,
            log_file,
            UPSTREAM_START_TIMEOUT,
        )

    def _start_phoenix(self) -> None:
        pid_file, log_file = self.state.pid_file("phoenix"), self.state.log_file("phoenix")
        if self.settings.phoenix_url or procs.read_pid(pid_file):
            return
        _check_port_free(self.settings.phoenix_port, "Phoenix", "--phoenix-port")
        _check_port_free(self.settings.phoenix_grpc_port, "Phoenix gRPC", "--phoenix-grpc-port")
        env = {
            **self.environ,
            "PHOENIX_WORKING_DIR": str(self.state.phoenix_dir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.settings.phoenix_port),
            "PHOENIX_GRPC_PORT": str(self.settings.phoenix_grpc_port),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        # Started through our wrapper so the gRPC listener binds 127.0.0.1 too.
        argv = [
            sys.executable,
            "-m",
            "claude_session.stack.phoenix_server",
            "--grpc-host",
            "127.0.0.1",
            "serve",
        ]
        pid = procs.start("phoenix", argv, env, pid_file, log_file)
        procs.wait_healthy(
            "Phoenix (first start migrates its database)",
            self.settings.phoenix_base + "/healthz",
            pid,
            log_file,
            PHOENIX_START_TIMEOUT,
        )

    def _start_proxy(self, session: dict[str, str] | None, inherit_session_env: bool) -> None:
        pid_file, log_file = self.state.pid_file("proxy"), self.state.log_file("proxy")
        if procs.read_pid(pid_file):
            return
        _check_port_free(self.settings.proxy_port, "the proxy", "--proxy-port")
        env = proxy_env(
            self.settings, master_key(self.state) or "", session, self.environ, inherit_session_env
        )
        self.state.proxy_config.write_text(
            proxy_config.render(self.settings.upstream_url, bool(env.get("ANTHROPIC_API_KEY")))
        )
        pid = procs.start(
            "litellm proxy", proxy_argv(self.settings, self.state.proxy_config), env, pid_file, log_file
        )
        procs.wait_healthy(
            "the patched LiteLLM proxy",
            self.settings.proxy_url + "/health/liveliness",
            pid,
            log_file,
            PROXY_START_TIMEOUT,
        )


def _wait_port_released(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while procs.port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.1)
