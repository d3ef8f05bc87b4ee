"""The local stack: Phoenix, the patched LiteLLM proxy and (offline) the fake upstream.

Each runs as a background process with a pid file and a log file in the state
directory, bound to 127.0.0.1, and is stopped by PID.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path

from claude_session.phoenix import keys, pricing
from claude_session.phoenix.client import PhoenixClient
from claude_session.proxy import config as proxy_config
from claude_session.stack import postgres, procs
from claude_session.stack.errors import StackError
from claude_session.stack.proxy_env import proxy_env
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from claude_session.stack.status import ComponentStatus, StackStatus

# Start-up limits: Phoenix's first start migrates its database (~10 s here).
PHOENIX_START_TIMEOUT = 180.0
PROXY_START_TIMEOUT = 120.0
UPSTREAM_START_TIMEOUT = 30.0
WORKER_HEALTHCHECK_TIMEOUT = 60


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
        # uvicorn's supervisor kills a worker that misses a 5 s health ping; importing LiteLLM
        # on a busy machine can hold a worker that long, and it would be killed forever.
        "--timeout_worker_healthcheck",
        str(WORKER_HEALTHCHECK_TIMEOUT),
    ]


def register_prices(settings: StackSettings, api_key: str | None = None) -> list[str]:
    client = PhoenixClient(settings.phoenix_base, api_key=api_key)
    return pricing.register_missing_prices(client, settings.extra_prices())


class LocalStack:
    """The stack as local processes; `environ` is the environment they start from."""

    def __init__(self, settings: StackSettings, state: StatePaths, environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.state = state
        self.environ = dict(environ)

    # --- the Stack interface ---

    def up(self) -> StackSettings:
        """Start what is not running yet: upstream (offline), Phoenix and the proxy, in parallel;
        prices are registered in Phoenix before the proxy takes traffic."""
        recorded = StackSettings.recorded(self.state)
        if recorded and procs.read_pid(self.state.pid_file("proxy")):
            if recorded.docker:
                raise StackError("a Docker stack is recorded here; run `claude-session down` first")
            if recorded.offline != self.settings.offline:
                mode = "offline" if recorded.offline else "online"
                raise StackError(f"the stack is already running {mode}; run `claude-session down` first")
            if recorded.database != self.settings.database:
                where = recorded.database or "SQLite"
                raise StackError(f"the stack is already running on {where}; run `claude-session down` first")
            self.settings = recorded
        wanted = self._components()
        missing = [name for name in wanted if not procs.read_pid(self.state.pid_file(name))]
        if not missing:
            print(f"already running: {', '.join(wanted)}; nothing started", file=sys.stderr)
            return self.settings
        self.state.ensure()
        master_key(self.state)
        if self.settings.phoenix_auth and not self.settings.phoenix_api_key_file:
            self.settings = self.settings.replace(phoenix_api_key_file=str(self.state.phoenix_api_key))
        self.settings.extra_prices()  # a bad price file stops here, before anything starts
        proxy_config.retries_from(self.environ)  # so does a bad CLAUDE_SESSION_PROXY_RETRIES
        if not self.settings.phoenix_auth:
            self.settings.phoenix_api_key(self.environ)  # a bad key file stops here too
        self._check_ports(missing)
        self._start_postgres()  # before Phoenix, which connects to it at start-up
        self.settings.record(self.state)
        # An authenticated Phoenix's first start: the proxy waits for the key made below.
        later = ["proxy"] if self.settings.phoenix_auth and not self.state.phoenix_api_key.exists() else []
        # Each start is a separate process: launch them together, then wait for each.
        started = {name: getattr(self, f"_spawn_{name}")() for name in missing if name not in later}
        if "upstream" in started:
            self._wait("upstream", started["upstream"])
        if "phoenix" in started:
            self._wait("phoenix", started["phoenix"])
        self._ensure_api_key()
        created = register_prices(self.settings, self.settings.phoenix_api_key(self.environ))
        if created:
            print(f"registered {len(created)} Anthropic model prices in Phoenix", file=sys.stderr)
        if "proxy" in missing and "proxy" in later:
            started["proxy"] = self._spawn_proxy()
        if "proxy" in started:
            self._wait("proxy", started["proxy"])
        return self.settings

    def down(self) -> list[str]:
        """Stop every component this state directory started; return what was stopped."""
        stopped = [name for name in ("proxy", "phoenix", "upstream") if procs.stop(self.state.pid_file(name))]
        if self._private_postgres().stop():  # after Phoenix, its client
            stopped.append("postgres")
        return stopped

    def stale(self) -> dict[str, int]:
        names = ("proxy", "phoenix", "upstream", "postgres")
        found = {name: procs.stale_pid(self.state.pid_file(name)) for name in names}
        return {name: pid for name, pid in found.items() if pid is not None}

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
        if settings.database == "postgres":
            pid = procs.read_pid(self.state.pid_file("postgres"))
            components["postgres"] = ComponentStatus(
                url=f"postgresql://127.0.0.1:{settings.postgres_port}",
                healthy=pid is not None and procs.port_in_use(settings.postgres_port),
                pid=pid,
            )
        return StackStatus(self.state, settings, components)

    def restart_proxy(self) -> None:
        """Stop and start the proxy, waiting for health (not sleeping); the proxy-wide session
        (its file in the state directory) and the guide's exported variables carry over."""
        if not procs.read_pid(self.state.pid_file("proxy")):
            raise StackError("the proxy is not running; start the stack with `claude-session up`")
        procs.stop(self.state.pid_file("proxy"))
        _wait_port_released(self.settings.proxy_port)
        self._start_proxy()

    # --- the components ---

    def _components(self) -> list[str]:
        names = ["upstream"] if self.settings.offline else []
        if not self.settings.phoenix_url:
            names.append("phoenix")
        return [*names, "proxy"]

    def _check_ports(self, names: list[str]) -> None:
        checks = {
            "upstream": [(self.settings.upstream_port, "the offline upstream", "--upstream-port")],
            "phoenix": [
                (self.settings.phoenix_port, "Phoenix", "--phoenix-port"),
                (self.settings.phoenix_grpc_port, "Phoenix gRPC", "--phoenix-grpc-port"),
            ],
            "proxy": [(self.settings.proxy_port, "the proxy", "--proxy-port")],
        }
        for name in names:
            for port, what, option in checks[name]:
                _check_port_free(port, what, option)

    def _wait(self, name: str, pid: int) -> None:
        what, url, timeout = {
            "upstream": (
                "the offline fake Anthropic upstream",
                self.settings.upstream_url + "/",
                UPSTREAM_START_TIMEOUT,
            ),
            "phoenix": (
                "Phoenix (first start migrates its database)",
                self.settings.phoenix_base + "/healthz",
                PHOENIX_START_TIMEOUT,
            ),
            "proxy": (
                "the patched LiteLLM proxy",
                self.settings.proxy_url + "/health/liveliness",
                PROXY_START_TIMEOUT,
            ),
        }[name]
        procs.wait_healthy(what, url, pid, self.state.log_file(name), timeout)

    def _spawn_upstream(self) -> int:
        argv = fake_upstream_argv(self.settings.upstream_port)
        return procs.start(
            "fake upstream",
            argv,
            self.environ,
            self.state.pid_file("upstream"),
            self.state.log_file("upstream"),
        )

    def _spawn_phoenix(self) -> int:
        env = {
            **self.environ,
            "PHOENIX_WORKING_DIR": str(self.state.phoenix_dir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.settings.phoenix_port),
            "PHOENIX_GRPC_PORT": str(self.settings.phoenix_grpc_port),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        # The database URL (password included) goes through the environment, never argv.
        env.pop("PHOENIX_SQL_DATABASE_URL", None)
        if self.settings.database:
            env["PHOENIX_SQL_DATABASE_URL"] = postgres.url_file(self.state).read_text().strip()
        if self.settings.phoenix_auth:
            # Secrets go to Phoenix through its environment (never argv), each kept 0600 in the
            # state directory; the admin password replaces Phoenix's default `admin`.
            env["PHOENIX_ENABLE_AUTH"] = "true"
            env["PHOENIX_SECRET"] = keys.secret_file(self.state.phoenix_secret)
            password = keys.secret_file(self.state.phoenix_admin_password)
            env["PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD"] = password
        else:
            for var in ("PHOENIX_ENABLE_AUTH", "PHOENIX_SECRET", "PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD"):
                env.pop(var, None)
        # Started through our wrapper so the gRPC listener binds 127.0.0.1 too.
        argv = [
            sys.executable,
            "-m",
            "claude_session.stack.phoenix_server",
            "--grpc-host",
            "127.0.0.1",
            "serve",
        ]
        return procs.start(
            "phoenix", argv, env, self.state.pid_file("phoenix"), self.state.log_file("phoenix")
        )

    def _spawn_proxy(self) -> int:
        env = proxy_env(
            self.settings,
            master_key(self.state) or "",
            None,
            self.environ,
            inherit_session_env=True,
            proxy_session_file=self.state.proxy_session,
            phoenix_api_key=self.settings.phoenix_api_key(self.environ),
            spool_dir=self.state.spool,
        )
        self.state.proxy_config.write_text(
            proxy_config.render(
                self.settings.upstream_url,
                bool(env.get("ANTHROPIC_API_KEY")),
                proxy_config.retries_from(self.environ),
            )
        )
        argv = proxy_argv(self.settings, self.state.proxy_config)
        return procs.start(
            "litellm proxy", argv, env, self.state.pid_file("proxy"), self.state.log_file("proxy")
        )

    def _ensure_api_key(self) -> None:
        """An authenticated local Phoenix: create the stack's system API key once, kept 0600."""
        if not self.settings.phoenix_auth or self.state.phoenix_api_key.exists():
            return
        print("creating the stack's Phoenix API key (admin login, system key)", file=sys.stderr)
        key = keys.create_system_api_key(
            self.settings.phoenix_base,
            keys.read_key_file(self.state.phoenix_admin_password, "secret file"),
            name="claude-session",
        )
        keys.write_secret(self.state.phoenix_api_key, key)

    def _private_postgres(self) -> postgres.PrivatePostgres:
        return postgres.PrivatePostgres(self.state, self.settings.postgres_port, self.environ)

    def _start_postgres(self) -> None:
        """`up --postgres`: start the private cluster (created on first use) unless it runs, and
        write the URL Phoenix connects with (0600; stack.json records only "postgres")."""
        if self.settings.database != "postgres":
            return
        if procs.read_pid(self.state.pid_file("postgres")) and self.settings.postgres_port:
            return
        if not self.settings.postgres_port:
            self.settings = self.settings.replace(postgres_port=procs.free_port())
        _check_port_free(self.settings.postgres_port, "PostgreSQL", "--postgres-port")
        cluster = self._private_postgres()
        cluster.wait(cluster.start())
        postgres.write_secret(postgres.url_file(self.state), cluster.url())

    def start_phoenix(self) -> None:
        """Start only Phoenix, if it is not running (the bench's shared Phoenix)."""
        if procs.read_pid(self.state.pid_file("phoenix")):
            return
        self.state.ensure()
        self._check_ports(["phoenix"])
        self._wait("phoenix", self._spawn_phoenix())

    def _start_proxy(self) -> None:
        self._check_ports(["proxy"])
        self._wait("proxy", self._spawn_proxy())


def _wait_port_released(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while procs.port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.1)
