"""The local stack: Phoenix, the patched LiteLLM proxy and (offline) the fake upstream.

Each runs as a background process with a pid file and a log file in the state
directory, bound to 127.0.0.1, and is stopped by PID.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from claude_session import fields, pricing, procs, proxy_config
from claude_session.errors import UserError
from claude_session.phoenix_api import PhoenixClient
from claude_session.state import StatePaths, master_key, read_json, write_json

# Start-up limits: Phoenix's first start migrates its database (~10 s here).
PHOENIX_START_TIMEOUT = 180.0
PROXY_START_TIMEOUT = 120.0
UPSTREAM_START_TIMEOUT = 30.0

DEFAULT_PROJECT = "claude-code"
OFFLINE_UPSTREAM_KEY = "sk-offline-fake-upstream"  # the fake upstream accepts any key

# --- Tuning (issue: overhead, load and faults; figures in bench/README.md "## proxy overhead") ---
# Proxy workers matched to the cores, at most 2: each worker is a 450-650 MB process, and one
# Claude Code user is far below what two serve (CLAUDE_SESSION_PROXY_WORKERS overrides).
DEFAULT_WORKERS = max(1, min(os.cpu_count() or 1, 2))
# Proxy env defaults; a value already set in the environment wins.
PROXY_TUNING_ENV = {
    # uvicorn logs at LiteLLM's level: no access-log line per request (errors still logged).
    "LITELLM_LOG": "WARNING",
    # No `raw_gen_ai_request` span (a copy of the request with llm.None.* attributes); the
    # Phoenix spans keep their prompts: the arize_phoenix attributes ignore this setting.
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT",
    # Span export runs in a background thread (BatchSpanProcessor), never on the request path.
    "OTEL_BSP_SCHEDULE_DELAY": "1000",  # ms; spans reach Phoenix ~1 s after the request (default 5 s)
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "256",  # ~10 MB per export with Claude Code's prompts
    "OTEL_BSP_MAX_QUEUE_SIZE": "2048",  # spans held while Phoenix is away; beyond, dropped and logged
    # One export retries for up to 45 s (backoff 1+2+4+8+16 s): a Phoenix restart loses nothing.
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "45",
}


@dataclass
class StackSettings:
    proxy_port: int = 4000
    phoenix_port: int = 6006
    phoenix_grpc_port: int = 4317
    upstream_port: int = 8089
    offline: bool = False
    phoenix_url: str | None = None  # an external Phoenix: none is started
    project: str = DEFAULT_PROJECT
    workers: int = DEFAULT_WORKERS  # tuned: was 1
    prices_file: str | None = None  # extra model prices (YAML), for models newer than the price maps
    docker: bool = False  # run by claude_session.compose_stack (`up --docker`)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def phoenix_base(self) -> str:
        return (self.phoenix_url or f"http://127.0.0.1:{self.phoenix_port}").rstrip("/")

    @property
    def upstream_url(self) -> str:
        if self.offline:
            return f"http://127.0.0.1:{self.upstream_port}"
        # Overridable for a gateway in front of Anthropic (and for tests of the online path).
        return os.environ.get("CLAUDE_SESSION_ANTHROPIC_URL") or proxy_config.ANTHROPIC_API

    @classmethod
    def from_env(cls) -> StackSettings:
        """Defaults, overridden by CLAUDE_SESSION_* and PHOENIX_PROJECT_NAME."""
        env = os.environ
        settings = cls()
        for attr, var in (
            ("proxy_port", "CLAUDE_SESSION_PROXY_PORT"),
            ("phoenix_port", "CLAUDE_SESSION_PHOENIX_PORT"),
            ("phoenix_grpc_port", "CLAUDE_SESSION_PHOENIX_GRPC_PORT"),
            ("upstream_port", "CLAUDE_SESSION_UPSTREAM_PORT"),
            ("workers", "CLAUDE_SESSION_PROXY_WORKERS"),
        ):
            if env.get(var):
                setattr(settings, attr, _port_or_count(var, env[var]))
        settings.offline = env.get("CLAUDE_SESSION_OFFLINE", "") in ("1", "true", "yes")
        settings.phoenix_url = env.get("CLAUDE_SESSION_PHOENIX_URL") or None
        settings.project = env.get("PHOENIX_PROJECT_NAME") or DEFAULT_PROJECT
        settings.prices_file = env.get("CLAUDE_SESSION_PRICES") or None
        return settings

    def extra_prices(self) -> list[pricing.ModelPrice]:
        return pricing.load_extra_prices(Path(self.prices_file)) if self.prices_file else []

    @classmethod
    def on_free_ports(cls, **overrides: Any) -> StackSettings:
        """A private stack on free 127.0.0.1 ports (the demo, tests, benchmarks)."""
        ports = ("proxy_port", "phoenix_port", "phoenix_grpc_port", "upstream_port")
        return cls(**{name: procs.free_port() for name in ports}, **overrides)

    @classmethod
    def recorded(cls, state: StatePaths) -> StackSettings | None:
        data = read_json(state.stack)
        if not data:
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _port_or_count(var: str, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UserError(f"{var} must be a number between 1 and 65535", exit_code=2)
    return int(value)


def _bin(name: str) -> str:
    """An executable of the Python environment running us (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _check_port_free(port: int, what: str, option: str) -> None:
    if procs.port_in_use(port):
        raise UserError(
            f"port {port} for {what} is already in use by another program; choose another with {option}"
        )


def fake_upstream_argv(port: int, *options: str) -> list[str]:
    """The command that runs the bundled fake Anthropic upstream on 127.0.0.1:`port`."""
    return [
        sys.executable,
        "-m",
        "claude_session.fake_upstream",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]


def start_upstream(settings: StackSettings, state: StatePaths) -> None:
    pid_file, log_file = state.pid_file("upstream"), state.log_file("upstream")
    if procs.read_pid(pid_file):
        return
    _check_port_free(settings.upstream_port, "the offline upstream", "--upstream-port")
    argv = fake_upstream_argv(settings.upstream_port)
    pid = procs.start("fake upstream", argv, os.environ, pid_file, log_file)
    procs.wait_healthy(
        "the offline fake Anthropic upstream",
        settings.upstream_url + "/",
        pid,
        log_file,
        UPSTREAM_START_TIMEOUT,
    )


def start_phoenix(settings: StackSettings, state: StatePaths) -> None:
    pid_file, log_file = state.pid_file("phoenix"), state.log_file("phoenix")
    if settings.phoenix_url or procs.read_pid(pid_file):
        return
    _check_port_free(settings.phoenix_port, "Phoenix", "--phoenix-port")
    _check_port_free(settings.phoenix_grpc_port, "Phoenix gRPC", "--phoenix-grpc-port")
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(state.phoenix_dir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(settings.phoenix_port),
        "PHOENIX_GRPC_PORT": str(settings.phoenix_grpc_port),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    argv = [sys.executable, "-m", "claude_session.phoenix_server", "serve"]  # gRPC bound to 127.0.0.1 too
    pid = procs.start("phoenix", argv, env, pid_file, log_file)
    procs.wait_healthy(
        "Phoenix (first start migrates its database)",
        settings.phoenix_base + "/healthz",
        pid,
        log_file,
        PHOENIX_START_TIMEOUT,
    )


def proxy_env(
    settings: StackSettings, state: StatePaths, session: dict[str, str] | None, inherit_session_env: bool
) -> dict[str, str]:
    """The proxy's environment: secrets as env vars, the proxy-wide session as PHOENIX_SESSION_*."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_FROM_PROXY_ENV}
    manual = fields.from_env() if inherit_session_env else {}
    for field in fields.FIELDS:
        env.pop(field.env, None)
    env.update(fields.to_env(session if session is not None else manual))
    env.update(
        {
            "LITELLM_MASTER_KEY": master_key(state) or "",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the bundled price map: no fetch at start-up
            "PHOENIX_COLLECTOR_HTTP_ENDPOINT": settings.phoenix_base + "/v1/traces",
            "PHOENIX_PROJECT_NAME": settings.project,
            # The pass-through route /anthropic takes its target from here.
            "ANTHROPIC_API_BASE": settings.upstream_url,
        }
    )
    if settings.offline:
        env["ANTHROPIC_API_KEY"] = OFFLINE_UPSTREAM_KEY
    for key, value in PROXY_TUNING_ENV.items():  # tuning defaults (see PROXY_TUNING_ENV)
        env.setdefault(key, value)
    if settings.prices_file:
        env["CLAUDE_SESSION_PRICES"] = settings.prices_file  # read by the overlay at proxy start
    else:
        env.pop("CLAUDE_SESSION_PRICES", None)
    return env


# The client-side variables would make the proxy call itself or carry the user's terminal session.
_DROPPED_FROM_PROXY_ENV = frozenset(
    {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS"}
)


def start_proxy(
    settings: StackSettings,
    state: StatePaths,
    session: dict[str, str] | None = None,
    inherit_session_env: bool = True,
) -> None:
    pid_file, log_file = state.pid_file("proxy"), state.log_file("proxy")
    if procs.read_pid(pid_file):
        return
    _check_port_free(settings.proxy_port, "the proxy", "--proxy-port")
    env = proxy_env(settings, state, session, inherit_session_env)
    state.proxy_config.write_text(
        proxy_config.render(settings.upstream_url, bool(env.get("ANTHROPIC_API_KEY")))
    )
    argv = [
        _bin("litellm"),
        "--config",
        str(state.proxy_config),
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.proxy_port),
        "--num_workers",
        str(settings.workers),
    ]
    pid = procs.start("litellm proxy", argv, env, pid_file, log_file)
    procs.wait_healthy(
        "the patched LiteLLM proxy",
        settings.proxy_url + "/health/liveliness",
        pid,
        log_file,
        PROXY_START_TIMEOUT,
    )


def register_prices(settings: StackSettings) -> list[str]:
    return pricing.register_missing_prices(PhoenixClient(settings.phoenix_base), settings.extra_prices())


def up(settings: StackSettings, state: StatePaths, session: dict[str, str] | None = None) -> None:
    """Start what is not running yet: upstream (offline), Phoenix, prices, proxy."""
    recorded = StackSettings.recorded(state)
    if recorded and procs.read_pid(state.pid_file("proxy")):
        if recorded.offline != settings.offline:
            mode = "offline" if recorded.offline else "online"
            raise UserError(f"the stack is already running {mode}; run `claude-session down` first")
        settings = recorded
    state.ensure()
    master_key(state)
    settings.extra_prices()  # a bad price file stops here, before anything starts
    if settings.offline:
        start_upstream(settings, state)
    start_phoenix(settings, state)
    created = register_prices(settings)
    if created:
        print(f"registered {len(created)} Anthropic model prices in Phoenix", file=sys.stderr)
    write_json(state.stack, asdict(settings))
    proxy_session = session if session is not None else read_json(state.proxy_session)
    start_proxy(settings, state, proxy_session)


def restart_proxy(state: StatePaths, session: dict[str, str] | None, inherit_session_env: bool) -> None:
    """Restart the proxy with a new proxy-wide session, waiting for health (not sleeping)."""
    settings = StackSettings.recorded(state)
    if settings is None or not procs.read_pid(state.pid_file("proxy")):
        raise UserError("the proxy is not running; start the stack with `claude-session up`")
    procs.stop(state.pid_file("proxy"))
    _wait_port_released(settings.proxy_port)
    start_proxy(settings, state, session, inherit_session_env)


def _wait_port_released(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while procs.port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def down(state: StatePaths) -> list[str]:
    """Stop every component this state directory started; return what was stopped."""
    stopped = []
    for name in ("proxy", "phoenix", "upstream"):
        if procs.stop(state.pid_file(name)):
            stopped.append(name)
    return stopped


def status(state: StatePaths) -> dict[str, Any]:
    settings = StackSettings.recorded(state)
    report: dict[str, Any] = {"state_dir": str(state.root), "components": {}}
    if settings is None:
        return report
    report["settings"] = asdict(settings)
    checks = {
        "proxy": settings.proxy_url + "/health/liveliness",
        "phoenix": settings.phoenix_base + "/healthz",
        "upstream": settings.upstream_url + "/" if settings.offline else None,
    }
    for name, url in checks.items():
        if url is None:
            continue
        pid = procs.read_pid(state.pid_file(name))
        external = name == "phoenix" and settings.phoenix_url is not None
        report["components"][name] = {
            "pid": pid,
            "url": url.rsplit("/health", 1)[0].rstrip("/"),
            "healthy": procs.http_ok(url),
            "external": external,
        }
    report["proxy_session"] = read_json(state.proxy_session)
    return report


if __name__ == "__main__":
    # `python -m claude_session.stack --tuning-env`: the shipped proxy defaults as KEY=VALUE
    # lines, for the container entrypoint (one list of tuning for both ways to run).
    if sys.argv[1:] != ["--tuning-env"]:
        sys.exit("usage: python -m claude_session.stack --tuning-env")
    for key, value in {**PROXY_TUNING_ENV, "CLAUDE_SESSION_PROXY_WORKERS": str(DEFAULT_WORKERS)}.items():
        print(f"{key}={value}")
