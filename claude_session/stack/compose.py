"""The stack as containers: `docker compose --profile phoenix` in the checkout (compose.yaml).

`claude-session up --docker` chooses it and records `"docker": true` in stack.json;
`down`, `status`, `--proxy-wide` and `--reset` then come here (claude_session.stack.open_stack).
`--proxy-wide` and `--reset` talk to the running proxy's own endpoint (proxy_session); the guide's
exported PHOENIX_SESSION_* reach the container through `up -d --force-recreate litellm-proxy-phoenix`.

Either Compose works: the v2 plugin (`docker compose`) or a standalone `docker-compose` (v1.29
with profiles, or a v2 binary); CLAUDE_SESSION_COMPOSE chooses one ("docker compose",
"docker-compose" or a path to a docker-compose binary). The project is always named with -p
(Compose v1 rejects compose.yaml's top-level `name`), and containers are listed through the
engine by the project's label, which both versions set.

The proxy's key is LITELLM_MASTER_KEY in the checkout's .env (created from
.env.example with generated secrets when missing). It is mirrored into the state
directory's master_key file, where the launcher reads it for its requests.

Phoenix requires authentication unless .env (or the environment) says PHOENIX_ENABLE_AUTH=false:
its PHOENIX_SECRET and admin password come from .env (generated with it), and `up` creates a
system API key once (admin login), kept 0600 in the state directory's phoenix_api_key and
recorded as the settings' key file. The proxy gets it as PHOENIX_API_KEY through the
environment compose runs with (never argv); `report`, `rate` and `doctor` read with it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_session import CHECKOUT
from claude_session.core import fields
from claude_session.phoenix import keys
from claude_session.phoenix.client import API_KEY_ENV, PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.stack import procs
from claude_session.stack.errors import StackError
from claude_session.stack.local import PHOENIX_START_TIMEOUT, PROXY_START_TIMEOUT, register_prices
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths
from claude_session.stack.status import ComponentStatus, StackStatus

REPO = CHECKOUT
PROJECT_NAME = "claude-session"
PROFILE = "phoenix"
PROXY_SERVICE = "litellm-proxy-phoenix"
PHOENIX_SERVICE = "phoenix"
ENV_FILE = ".env"
ENV_EXAMPLE = ".env.example"
# Secrets that `up --docker` generates when it creates .env (blank in .env.example).
GENERATED_SECRETS = (
    "LITELLM_MASTER_KEY",
    "POSTGRES_PASSWORD",
    "PHOENIX_SECRET",
    "PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD",
)
# Phoenix's auth secrets: generated into an older .env that lacks them (auth is on by default).
PHOENIX_AUTH_SECRETS = ("PHOENIX_SECRET", "PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD")
AUTH_SWITCH = "PHOENIX_ENABLE_AUTH"
DOCKER_INFO_TIMEOUT = 30.0
COMPOSE_QUERY_TIMEOUT = 60.0
COMPOSE_CHOICE_VAR = "CLAUDE_SESSION_COMPOSE"
# The folder holding compose.yaml and .env (default: the checkout); the Docker tests use their own.
COMPOSE_DIR_VAR = "CLAUDE_SESSION_COMPOSE_DIR"


def project_name(env: Mapping[str, str]) -> str:
    """Compose's own COMPOSE_PROJECT_NAME when set, else claude-session."""
    return env.get("COMPOSE_PROJECT_NAME") or PROJECT_NAME


@dataclass(frozen=True)
class ComposeCli:
    """How to run Compose: `docker compose` (v2 plugin) or a standalone `docker-compose`."""

    docker: str
    argv: tuple[str, ...]
    version: str

    @property
    def name(self) -> str:
        return "docker compose" if self.argv[1:] == ("compose",) else "docker-compose"

    @property
    def v1(self) -> bool:
        return self.version.lstrip("v").startswith("1.")


def require_docker(environ: Mapping[str, str]) -> ComposeCli:
    """The docker client and a Compose, once a Docker engine answers; else one line saying what lacks."""
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
    return find_compose(docker, environ)


def find_compose(docker: str, environ: Mapping[str, str]) -> ComposeCli:
    """`docker compose` if the plugin answers, else `docker-compose` on PATH (v1 or v2)."""
    choice = environ.get(COMPOSE_CHOICE_VAR, "").strip()
    candidates: list[tuple[str, ...]] = []
    if choice in ("", "docker compose"):
        candidates.append((docker, "compose"))
    if choice != "docker compose":
        standalone = choice if choice not in ("", "docker-compose") else "docker-compose"
        found = shutil.which(standalone, path=environ.get("PATH"))
        if found:
            candidates.append((found,))
    for argv in candidates:
        version = _output([*argv, "version", "--short"])
        if version:
            return ComposeCli(docker, argv, version.splitlines()[0].strip())
    wanted = f" ({COMPOSE_CHOICE_VAR}={choice})" if choice else ""
    raise StackError(
        f"neither `docker compose` (v2) nor `docker-compose` (v1.29+) works here{wanted}; "
        "install one, or run `claude-session up` without --docker"
    )


def _output(argv: Sequence[str]) -> str | None:
    """What `argv` prints when it succeeds, else None."""
    try:
        done = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=DOCKER_INFO_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _succeeds(argv: Sequence[str]) -> bool:
    return _output(argv) is not None


def compose(
    cli: ComposeCli,
    args: Sequence[str],
    env: Mapping[str, str],
    project_dir: Path,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`docker compose --profile phoenix -p claude-session ARGS` in `project_dir`; a failure is one line."""
    argv = [*cli.argv, "--profile", PROFILE, "--project-name", project_name(env), *args]
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
        raise StackError(f"`{cli.name} --profile {PROFILE} {' '.join(args)}` did not answer") from None
    if done.returncode != 0:
        detail = (done.stderr or "").strip().splitlines()[-1:] if capture else []
        reason = f": {detail[0]}" if detail else ""
        raise StackError(
            f"`{cli.name} --profile {PROFILE} {' '.join(args)}` failed (exit {done.returncode}){reason}"
        )
    return done


# --- .env ---------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a compose .env file, read by python-dotenv (comments, quotes, `export`
    and escapes as Compose reads them; no interpolation from this process's environment)."""
    from dotenv import dotenv_values  # LiteLLM's own dependency; imported only for --docker

    return {key: value or "" for key, value in dotenv_values(path, interpolate=False).items()}


def new_master_key() -> str:
    return "sk-" + secrets.token_urlsafe(32)


def _generated(name: str) -> str:
    if name == "LITELLM_MASTER_KEY":
        return new_master_key()
    if name in PHOENIX_AUTH_SECRETS:
        return keys.new_secret()  # valid for Phoenix's rules (length, a digit, a lowercase letter)
    return secrets.token_urlsafe(24)


def _write_private(path: Path, lines: Sequence[str]) -> None:
    """Write `lines` to `path` through a new 0600 file (never readable by others, even briefly)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    tmp.replace(path)


def _add_phoenix_secrets(env_file: Path) -> None:
    """An existing .env without Phoenix's auth secrets (older than auth by default): generate them."""
    values = read_env_file(env_file)
    if values.get(AUTH_SWITCH, "true").lower() == "false":
        return
    missing = [name for name in PHOENIX_AUTH_SECRETS if not values.get(name)]
    if not missing:
        return
    lines = []
    for line in env_file.read_text().splitlines():
        name = line.split("=", 1)[0]
        if name in missing and line == f"{name}=":
            line += _generated(name)
            missing.remove(name)
        lines.append(line)
    lines += [f"{name}={_generated(name)}" for name in missing]
    _write_private(env_file, lines)
    print(f"claude-session: added generated Phoenix auth secrets to {env_file} (mode 0600)", file=sys.stderr)


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
                line += _generated(name)
            lines.append(line)
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        print(
            f"claude-session: created {env_file} with a generated proxy key and Phoenix secrets (mode 0600)",
            file=sys.stderr,
        )
    else:
        _add_phoenix_secrets(env_file)
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
    phoenix_api_key: str | None = None,
) -> dict[str, str]:
    """What compose.yaml interpolates: ports, project, the keys, and the proxy-wide session.

    Every PHOENIX_SESSION_* is set, empty when unused, so a value in .env cannot leak in.
    The Phoenix API key (when Phoenix requires one) goes here, never on compose's command line.
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
    if phoenix_api_key:
        env[API_KEY_ENV] = phoenix_api_key
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
        project_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.environ = dict(environ)
        self.project_dir = project_dir or Path(self.environ.get(COMPOSE_DIR_VAR) or REPO)

    def up(self) -> StackSettings:
        """`docker compose --profile phoenix up -d`; wait for Phoenix, register prices, wait for the proxy."""
        settings = docker_settings(self.settings)
        recorded = StackSettings.recorded(self.state)
        if recorded and not recorded.docker and procs.read_pid(self.state.pid_file("proxy")):
            raise StackError("the local stack is running; stop it with `claude-session down` first")
        cli = require_docker(self.environ)
        key = ensure_env_file(self.project_dir)
        _mirror_master_key(self.state, key)
        auth = self._auth_enabled()
        if auth and not settings.phoenix_api_key_file:
            settings = settings.replace(phoenix_api_key_file=str(self.state.phoenix_api_key))
        elif not auth and settings.phoenix_api_key_file == str(self.state.phoenix_api_key):
            settings = settings.replace(phoenix_api_key_file=None)  # a key from an earlier auth run
        env = compose_env(settings, key, None, inherit_session_env=True, base=self.environ)
        print(
            f"claude-session: starting Phoenix with {cli.name} {cli.version} "
            "(the first run pulls or builds the images)...",
            file=sys.stderr,
            flush=True,
        )
        compose(cli, ["up", "-d", PHOENIX_SERVICE], env, self.project_dir)
        settings.record(self.state)
        self.settings = settings
        procs.wait_healthy(
            "Phoenix (first start migrates its database)",
            settings.phoenix_base + "/healthz",
            None,
            None,
            PHOENIX_START_TIMEOUT,
        )
        api_key = self._ensure_api_key() if auth else settings.phoenix_api_key(self.environ)
        created = register_prices(settings, api_key)
        if created:
            print(f"registered {len(created)} Anthropic model prices in Phoenix", file=sys.stderr)
        print("claude-session: starting the proxy...", file=sys.stderr, flush=True)
        env = compose_env(
            settings, key, None, inherit_session_env=True, base=self.environ, phoenix_api_key=api_key
        )
        compose(cli, ["up", "-d", PROXY_SERVICE], env, self.project_dir)
        self._wait_proxy()
        return settings

    def restart_proxy(self) -> None:
        """Recreate the proxy container; the guide's exported PHOENIX_SESSION_* reach it, and the
        proxy-wide session set with --proxy-wide stays in its volume."""
        cli = require_docker(self.environ)
        key = ensure_env_file(self.project_dir)
        _mirror_master_key(self.state, key)
        env = compose_env(
            self.settings,
            key,
            None,
            inherit_session_env=True,
            base=self.environ,
            phoenix_api_key=self.settings.phoenix_api_key(self.environ),
        )
        compose(cli, ["up", "-d", "--force-recreate", PROXY_SERVICE], env, self.project_dir)
        self._wait_proxy()

    def down(self) -> list[str]:
        """`docker compose --profile phoenix down` (named volumes are kept); returns the services that ran."""
        cli = require_docker(self.environ)
        running = [
            service for service, entry in self._containers(cli).items() if entry.get("State") == "running"
        ]
        compose(cli, ["down"], self._down_env(), self.project_dir)
        return running

    def stale(self) -> dict[str, int]:
        return {}  # compose tracks its containers itself

    def status(self) -> StackStatus:
        """The same report as the local stack's, with the container of each component."""
        settings = self.settings
        containers = self._containers(require_docker(self.environ))
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

    def _auth_enabled(self) -> bool:
        """Whether compose.yaml starts Phoenix with auth: PHOENIX_ENABLE_AUTH (environment, then .env;
        default true)."""
        value = self.environ.get(AUTH_SWITCH)
        if value is None:
            env_file = self.project_dir / ENV_FILE
            value = read_env_file(env_file).get(AUTH_SWITCH) if env_file.exists() else None
        return (value or "true").strip().lower() != "false"

    def _ensure_api_key(self) -> str:
        """The stack's Phoenix system API key: the recorded key file's, created (admin login) once.

        A key this state directory made that Phoenix no longer accepts (its volume was removed)
        is replaced.
        """
        path = Path(self.settings.phoenix_api_key_file or self.state.phoenix_api_key)
        own = path == self.state.phoenix_api_key
        if path.exists() or not own:
            key = keys.read_key_file(path)
            if not own or PhoenixClient(self.settings.phoenix_base, timeout=10, api_key=key).key_accepted():
                return key
            path.unlink()
        env_file = self.project_dir / ENV_FILE
        password = read_env_file(env_file).get("PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD", "")
        if not password:
            raise StackError(
                f"{env_file}: PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD is empty; Phoenix auth needs it"
            )
        print(
            "claude-session: creating the stack's Phoenix API key (admin login, system key)", file=sys.stderr
        )
        try:
            key = keys.create_system_api_key(self.settings.phoenix_base, password, name="claude-session")
        except PhoenixError as err:
            raise StackError(
                f"{err} (Phoenix takes {env_file.name}'s PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD when it "
                "creates its database only)"
            ) from None
        self.state.ensure()
        keys.write_secret(path, key)
        return key

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
                f"`docker compose --profile {PROFILE} -p {project_name(self.environ)} logs {PROXY_SERVICE}`"
            ) from None

    def _down_env(self) -> dict[str, str]:
        """`down` interpolates the files too: give variables that must be set a placeholder."""
        env = dict(self.environ)
        env_file = self.project_dir / ENV_FILE
        values = read_env_file(env_file) if env_file.exists() else {}
        for name in GENERATED_SECRETS:
            if not env.get(name) and not values.get(name):
                env[name] = "unused-by-down"
        return env

    def _containers(self, cli: ComposeCli) -> dict[str, dict[str, Any]]:
        """Service name -> {"Name", "State"} of the project's containers, from the engine itself.

        Both Compose versions label their containers with the project and the service, so one
        `docker ps` reads them whichever Compose started them.
        """
        argv = [
            cli.docker,
            "ps",
            "--all",
            "--filter",
            f"label=com.docker.compose.project={project_name(self.environ)}",
            "--format",
            '{{.Label "com.docker.compose.service"}}\t{{.Names}}\t{{.State}}',
        ]
        text = _output(argv)
        if text is None:
            raise StackError("`docker ps` failed: cannot list the stack's containers")
        containers: dict[str, dict[str, Any]] = {}
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0]:
                containers[parts[0]] = {"Name": parts[1], "State": parts[2]}
        return containers
