"""The stack as containers: `docker compose --profile phoenix` in the checkout (compose.yaml).

`claude-session up --docker` chooses it and records `"docker": true` in stack.json;
`down`, `status`, `--proxy-wide` and `--reset` then come here (claude_session.stack.open_stack).
The proxy-wide session reaches the proxy container exactly as in the guide: PHOENIX_SESSION_* in the
environment of `docker compose ... up -d --force-recreate litellm-proxy-phoenix`.

The proxy's key is LITELLM_MASTER_KEY in the checkout's .env (created from
.env.example with generated secrets when missing). It is mirrored into the state
directory's master_key file, where the launcher reads it for its requests.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from claude_session import CHECKOUT
from claude_session.session import fields
from claude_session.stack import procs
from claude_session.stack.errors import StackError
from claude_session.stack.local import PHOENIX_START_TIMEOUT, PROXY_START_TIMEOUT, register_prices
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths
from claude_session.stack.status import ComponentStatus, StackStatus

REPO = CHECKOUT
PROFILE = "phoenix"
PROXY_SERVICE = "litellm-proxy-phoenix"
PHOENIX_SERVICE = "phoenix"
ENV_FILE = ".env"
ENV_EXAMPLE = ".env.example"
# Secrets that `up --docker` generates when it creates .env (blank in .env.example).
GENERATED_SECRETS = ("LITELLM_MASTER_KEY", "POSTGRES_PASSWORD")
DOCKER_INFO_TIMEOUT = 30.0
COMPOSE_QUERY_TIMEOUT = 60.0


def require_docker() -> str:
    """The docker client, once a Docker engine and Compose v2 answer; else one line saying what lacks."""
    docker = shutil.which("docker")
    if docker is None:
        raise StackError(
            "Docker mode needs the `docker` command, which is not on PATH; install Docker "
            "or run `claude-session up` without --docker"
        )
    if not _succeeds([docker, "info", "--format", "{{.ServerVersion}}"]):
        raise StackError(
            "no Docker engine answers (`docker info` failed); start Docker "
            "or run `claude-session up` without --docker"
        )
    if not _succeeds([docker, "compose", "version"]):
        raise StackError("`docker compose` (Compose v2) is not installed; install the docker-compose plugin")
    return docker


def _succeeds(argv: Sequence[str]) -> bool:
    try:
        done = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=DOCKER_INFO_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def compose(
    docker: str,
    args: Sequence[str],
    env: Mapping[str, str],
    project_dir: Path,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`docker compose --profile phoenix ARGS` in `project_dir`; a failure is one line."""
    argv = [docker, "compose", "--profile", PROFILE, *args]
    try:
        done = subprocess.run(
            argv,
            cwd=project_dir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=capture,
            text=True,
            timeout=COMPOSE_QUERY_TIMEOUT if capture else None,
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"`docker compose --profile {PROFILE} {' '.join(args)}` did not answer") from None
    if done.returncode != 0:
        detail = (done.stderr or "").strip().splitlines()[-1:] if capture else []
        reason = f": {detail[0]}" if detail else ""
        raise StackError(
            f"`docker compose --profile {PROFILE} {' '.join(args)}` failed (exit {done.returncode}){reason}"
        )
    return done


# --- .env ---------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (comments and blank lines skipped, quotes removed)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def new_master_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


def ensure_env_file(project_dir: Path = REPO) -> str:
    """The proxy's master key from .env; creates .env (mode 0600) from .env.example if missing."""
    env_file = project_dir / ENV_FILE
    if not env_file.exists():
        example = project_dir / ENV_EXAMPLE
        if not example.exists():
            raise StackError(f"{example} is missing; cannot create {env_file}")
        lines = []
        for line in example.read_text().splitlines():
            name = line.split("=", 1)[0]
            if name in GENERATED_SECRETS and line == f"{name}=":
                line += new_master_key() if name == "LITELLM_MASTER_KEY" else secrets.token_urlsafe(24)
            lines.append(line)
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        print(f"claude-session: created {env_file} with a generated proxy key (mode 0600)", file=sys.stderr)
    key = read_env_file(env_file).get("LITELLM_MASTER_KEY", "")
    if not key.startswith("sk-"):
        raise StackError(f"{env_file}: set LITELLM_MASTER_KEY to a key starting with sk- (see {ENV_EXAMPLE})")
    return key


def _mirror_master_key(state: StatePaths, key: str) -> None:
    """Write the key where the launcher reads it (state/master_key, mode 0600)."""
    state.ensure()
    if state.master_key.exists() and state.master_key.read_text().strip() == key:
        return
    tmp = state.master_key.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    tmp.replace(state.master_key)


# --- environment of docker compose ----------------------------------------------------


def compose_env(
    settings: StackSettings,
    master_key: str,
    session: Mapping[str, str] | None,
    inherit_session_env: bool,
    base: Mapping[str, str],
) -> dict[str, str]:
    """What compose.yaml interpolates: ports, project, the key, and the proxy-wide session.

    Every PHOENIX_SESSION_* is set, empty when unused, so a value in .env cannot leak in.
    """
    env = dict(base)
    try:
        manual = fields.from_env(env) if inherit_session_env else {}
        chosen = fields.to_env(session if session is not None else manual)
    except fields.InvalidSessionValue as err:
        raise StackError(str(err), exit_code=2) from None
    for field in fields.FIELDS:
        env[field.env] = chosen.get(field.env, "")
    env.update(
        {
            "LITELLM_MASTER_KEY": master_key,
            "CLAUDE_SESSION_PROXY_PORT": str(settings.proxy_port),
            "CLAUDE_SESSION_PHOENIX_PORT": str(settings.phoenix_port),
            "CLAUDE_SESSION_PHOENIX_GRPC_PORT": str(settings.phoenix_grpc_port),
            "PHOENIX_PROJECT_NAME": settings.project,
        }
    )
    return env


def docker_settings(settings: StackSettings) -> StackSettings:
    """`settings` for the compose stack; options it cannot honour are refused (exit 2)."""
    unsupported = {
        "--offline": settings.offline,
        "--phoenix-url": settings.phoenix_url,
        "--prices": settings.prices_file,
    }
    for option, value in unsupported.items():
        if value:
            raise StackError(f"{option} is not available with --docker", exit_code=2)
    return settings.replace(docker=True)


class ComposeStack:
    """The stack as containers from the checkout's compose.yaml (profile `phoenix`)."""

    def __init__(
        self,
        settings: StackSettings,
        state: StatePaths,
        environ: Mapping[str, str],
        project_dir: Path = REPO,
    ) -> None:
        self.settings = settings
        self.state = state
        self.environ = dict(environ)
        self.project_dir = project_dir

    def up(self) -> StackSettings:
        """`docker compose --profile phoenix up -d`; wait for Phoenix, register prices, wait for the proxy."""
        settings = docker_settings(self.settings)
        recorded = StackSettings.recorded(self.state)
        if recorded and not recorded.docker and procs.read_pid(self.state.pid_file("proxy")):
            raise StackError("the local stack is running; stop it with `claude-session down` first")
        docker = require_docker()
        key = ensure_env_file(self.project_dir)
        _mirror_master_key(self.state, key)
        env = compose_env(settings, key, None, inherit_session_env=True, base=self.environ)
        print(
            "claude-session: starting Phoenix and the proxy with docker compose "
            "(the first run pulls or builds the images)...",
            file=sys.stderr,
            flush=True,
        )
        compose(docker, ["up", "-d"], env, self.project_dir)
        settings.record(self.state)
        self.settings = settings
        procs.wait_healthy(
            "Phoenix (first start migrates its database)",
            settings.phoenix_base + "/healthz",
            None,
            None,
            PHOENIX_START_TIMEOUT,
        )
        created = register_prices(settings)
        if created:
            print(f"registered {len(created)} Anthropic model prices in Phoenix", file=sys.stderr)
        self._wait_proxy()
        return settings

    def restart_proxy(self) -> None:
        """Recreate the proxy container; the guide's exported PHOENIX_SESSION_* reach it, and the
        proxy-wide session set with --proxy-wide stays in its volume."""
        docker = require_docker()
        key = ensure_env_file(self.project_dir)
        _mirror_master_key(self.state, key)
        env = compose_env(self.settings, key, None, inherit_session_env=True, base=self.environ)
        compose(docker, ["up", "-d", "--force-recreate", PROXY_SERVICE], env, self.project_dir)
        self._wait_proxy()

    def down(self) -> list[str]:
        """`docker compose --profile phoenix down` (named volumes are kept); returns the services that ran."""
        docker = require_docker()
        running = compose(
            docker, ["ps", "--services", "--status", "running"], self.environ, self.project_dir, capture=True
        )
        compose(docker, ["down"], self.environ, self.project_dir)
        return [line.strip() for line in running.stdout.splitlines() if line.strip()]

    def status(self) -> StackStatus:
        """The same report as the local stack's, with the container of each component."""
        settings = self.settings
        containers = self._containers(require_docker())
        checks = {
            "proxy": (PROXY_SERVICE, settings.proxy_url + "/health/liveliness"),
            "phoenix": (PHOENIX_SERVICE, settings.phoenix_base + "/healthz"),
        }
        components = {}
        for name, (service, url) in checks.items():
            container = containers.get(service, {})
            components[name] = ComponentStatus(
                url=url.rsplit("/health", 1)[0].rstrip("/"),
                healthy=procs.http_ok(url),
                container=str(container.get("Name") or f"{service} (not created)"),
                state=str(container.get("State", "missing")),
            )
        return StackStatus(self.state, settings, components)

    def _wait_proxy(self) -> None:
        try:
            procs.wait_healthy(
                "the patched LiteLLM proxy container",
                self.settings.proxy_url + "/health/liveliness",
                None,
                None,
                PROXY_START_TIMEOUT,
            )
        except StackError:
            raise StackError(
                f"the proxy container did not answer at {self.settings.proxy_url}; see "
                f"`docker compose --profile {PROFILE} logs {PROXY_SERVICE}`"
            ) from None

    def _containers(self, docker: str) -> dict[str, dict[str, Any]]:
        """Service name -> `docker compose ps` entry (JSON lines, or one JSON array on older Compose)."""
        done = compose(
            docker, ["ps", "--all", "--format", "json"], self.environ, self.project_dir, capture=True
        )
        text = done.stdout.strip()
        if not text:
            return {}
        try:
            entries = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()]
        except ValueError:
            raise StackError("`docker compose ps --format json` printed something that is not JSON") from None
        return {str(e.get("Service")): e for e in entries if isinstance(e, dict)}
