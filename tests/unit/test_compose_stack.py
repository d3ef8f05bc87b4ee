"""Docker mode's commands, checked without Docker: a fake `docker` first on PATH records each call."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from claude_session.cli import main as cli
from claude_session.core.errors import ClaudeSessionError
from claude_session.stack import compose as compose_stack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, read_json, write_json
from tests.support import REPO

SESSION_VARS = (
    "PHOENIX_SESSION_ID",
    "PHOENIX_SESSION_TYPE",
    "PHOENIX_PROMPT_VERSION",
    "PHOENIX_SESSION_NAME",
)
RECORDED_VARS = (
    *SESSION_VARS,
    "LITELLM_MASTER_KEY",
    "CLAUDE_SESSION_PROXY_PORT",
    "PHOENIX_PROJECT_NAME",
    "PHOENIX_API_KEY",
)

FAKE_DOCKER = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    recorded = {{k: os.environ.get(k) for k in {recorded!r}}}
    log.write(json.dumps({{"argv": args, "cwd": os.getcwd(), "env": recorded}}) + "\\n")
if args[:1] == ["info"] and os.environ.get("FAKE_DOCKER_NO_ENGINE"):
    print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", file=sys.stderr)
    sys.exit(1)
if args[:2] == ["compose", "version"]:
    if os.environ.get("FAKE_DOCKER_NO_COMPOSE"):
        print("docker: 'compose' is not a docker command.", file=sys.stderr)
        sys.exit(1)
    print("2.29.7")
if args[:1] == ["ps"]:
    for service, state in (("phoenix", "running"), ("litellm-proxy-phoenix", "exited")):
        print(service + "\t" + "claude-session-" + service + "-1\t" + state)
sys.exit(0)
"""


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def healthy_port() -> Iterator[int]:
    """A local server answering 200 everywhere: stands in for the containers' published ports."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `docker` first on PATH; returns the file each call is recorded to (JSON lines)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable, recorded=RECORDED_VARS))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "docker-calls.jsonl"
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("FAKE_DOCKER_NO_ENGINE", raising=False)
    return log


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A compose project directory holding the repository's .env.example (and no .env yet)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / ".env.example", project / ".env.example")
    return project


@pytest.fixture
def state(tmp_path: Path) -> StatePaths:
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    return paths


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


COMPOSE_PREFIX = ["compose", "--profile", "phoenix", "--project-name", "claude-session"]


def compose_calls(log: Path) -> list[dict[str, Any]]:
    """Calls that ran compose commands (not the `info` / `compose version` probes)."""
    return [c for c in calls(log) if c["argv"][: len(COMPOSE_PREFIX)] == COMPOSE_PREFIX]


def recorded_compose(state: StatePaths, project_dir: Path) -> compose_stack.ComposeStack:
    """The compose stack `state` records, as the command line opens it (our environment as base)."""
    settings = StackSettings.recorded(state)
    assert settings is not None
    return compose_stack.ComposeStack(settings, state, dict(os.environ), project_dir)


def new_compose(settings: StackSettings, state: StatePaths, project_dir: Path) -> compose_stack.ComposeStack:
    return compose_stack.ComposeStack(settings, state, dict(os.environ), project_dir)


def record_docker_stack(state: StatePaths, port: int) -> StackSettings:
    settings = StackSettings(proxy_port=port, phoenix_port=port, docker=True)
    write_json(state.stack, asdict(settings))
    return settings


def test_restart_recreates_only_the_proxy_with_the_guides_exported_session(
    fake_docker: Path,
    project_dir: Path,
    state: StatePaths,
    healthy_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_docker_stack(state, healthy_port)
    exported = {
        "PHOENIX_SESSION_ID": "code-review-20261124-130000-a1b2c3",
        "PHOENIX_SESSION_TYPE": "code-review",
        "PHOENIX_PROMPT_VERSION": "v2",
        "PHOENIX_SESSION_NAME": "auth module",
    }
    for var, value in exported.items():
        monkeypatch.setenv(var, value)
    recorded_compose(state, project_dir).restart_proxy()

    (call,) = compose_calls(fake_docker)
    assert call["argv"] == [
        *COMPOSE_PREFIX,
        "up",
        "-d",
        "--force-recreate",
        "litellm-proxy-phoenix",
    ]
    assert call["cwd"] == str(project_dir)
    assert {k: call["env"][k] for k in SESSION_VARS} == exported
    assert call["env"]["CLAUDE_SESSION_PROXY_PORT"] == str(healthy_port)
    # The key compose hands the proxy is the .env one, and the launcher reads the same.
    key = call["env"]["LITELLM_MASTER_KEY"]
    assert key.startswith("sk-") and len(key) > 30
    assert state.master_key.read_text().strip() == key
    assert stat.S_IMODE(state.master_key.stat().st_mode) == 0o600


def test_session_variables_not_exported_are_set_empty(
    fake_docker: Path,
    project_dir: Path,
    state: StatePaths,
    healthy_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_docker_stack(state, healthy_port)
    for var in SESSION_VARS:
        monkeypatch.delenv(var, raising=False)
    recorded_compose(state, project_dir).restart_proxy()
    (call,) = compose_calls(fake_docker)
    assert call["argv"][-2:] == ["--force-recreate", "litellm-proxy-phoenix"]
    # Set and empty: compose takes them over any value in .env, and the proxy sees no session.
    assert {k: call["env"][k] for k in SESSION_VARS} == dict.fromkeys(SESSION_VARS, "")


def test_missing_docker_is_one_line(
    tmp_path: Path, state: StatePaths, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    record_docker_stack(state, 1)
    with pytest.raises(ClaudeSessionError) as caught:
        recorded_compose(state, project_dir).restart_proxy()
    message = str(caught.value)
    assert "\n" not in message
    assert "`docker` command" in message and "not on PATH" in message


def test_missing_docker_through_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("CLAUDE_SESSION_STATE_DIR", str(tmp_path / "state"))
    assert cli.main(["up", "--docker"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("claude-session: Docker mode needs the `docker` command")


def test_no_engine_is_one_line(
    fake_docker: Path, state: StatePaths, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_NO_ENGINE", "1")
    with pytest.raises(ClaudeSessionError) as caught:
        new_compose(StackSettings(), state, project_dir).up()
    assert str(caught.value).startswith("no Docker engine answers (`docker info` failed)")
    assert "\n" not in str(caught.value)
    assert compose_calls(fake_docker) == []
    assert not (project_dir / ".env").exists()


def test_up_creates_env_records_docker_and_waits_for_health(
    fake_docker: Path,
    project_dir: Path,
    state: StatePaths,
    healthy_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    priced: list[str | None] = []
    monkeypatch.setattr(compose_stack, "register_prices", lambda settings, key: priced.append(key) or [])
    logins: list[tuple[str, str]] = []

    def create_key(base_url: str, password: str, name: str) -> str:
        logins.append((password, name))
        return "phx-system-key-1"

    monkeypatch.setattr(compose_stack.keys, "create_system_api_key", create_key)
    for var in (*SESSION_VARS, "PHOENIX_API_KEY", "PHOENIX_ENABLE_AUTH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PHOENIX_SESSION_TYPE", "ci-pipeline")  # the guide's exported variables
    settings = StackSettings(proxy_port=healthy_port, phoenix_port=healthy_port, project="team")
    new_compose(settings, state, project_dir).up()

    # Phoenix first; the proxy once the key exists, the key in compose's environment only.
    phoenix, proxy = compose_calls(fake_docker)
    assert phoenix["argv"][len(COMPOSE_PREFIX) :] == ["up", "-d", "phoenix"]
    assert phoenix["env"]["PHOENIX_API_KEY"] is None
    assert proxy["argv"][len(COMPOSE_PREFIX) :] == ["up", "-d", "litellm-proxy-phoenix"]
    assert proxy["env"]["PHOENIX_API_KEY"] == "phx-system-key-1"
    assert all("phx-system-key-1" not in arg for c in calls(fake_docker) for arg in c["argv"])
    assert proxy["env"]["PHOENIX_SESSION_TYPE"] == "ci-pipeline"
    assert proxy["env"]["PHOENIX_PROJECT_NAME"] == "team"
    assert priced == ["phx-system-key-1"]
    recorded = read_json(state.stack)
    assert recorded is not None and recorded["docker"] is True
    assert recorded["proxy_port"] == healthy_port
    assert recorded["phoenix_api_key_file"] == str(state.phoenix_api_key)
    assert state.phoenix_api_key.read_text().strip() == "phx-system-key-1"
    assert stat.S_IMODE(state.phoenix_api_key.stat().st_mode) == 0o600
    reopened = StackSettings.recorded(state)
    assert reopened is not None and reopened.phoenix_api_key({}) == "phx-system-key-1"

    env_file = project_dir / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = compose_stack.read_env_file(env_file)
    assert values["LITELLM_MASTER_KEY"] == proxy["env"]["LITELLM_MASTER_KEY"]
    assert values["POSTGRES_PASSWORD"]
    # Phoenix's rules: PHOENIX_SECRET >= 32 characters with a digit and a lowercase letter.
    for name in ("PHOENIX_SECRET", "PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD"):
        value = values[name]
        assert len(value) >= 32 and any(c.isdigit() for c in value) and any(c.islower() for c in value)
    assert values["PHOENIX_SECRET"] != values["PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD"]
    assert logins == [(values["PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD"], "claude-session")]
    # A second `up` keeps the keys: no new admin login, the same key to the proxy.
    new_compose(settings, state, project_dir).up()
    assert compose_stack.read_env_file(env_file) == values
    assert len(logins) == 1
    assert compose_calls(fake_docker)[-1]["env"]["PHOENIX_API_KEY"] == "phx-system-key-1"
    # restart_proxy hands the recorded key to the recreated proxy too.
    recorded_compose(state, project_dir).restart_proxy()
    last = compose_calls(fake_docker)[-1]
    assert (
        last["argv"][-1] == "litellm-proxy-phoenix" and last["env"]["PHOENIX_API_KEY"] == "phx-system-key-1"
    )


def test_auth_switched_off_in_env_file(
    fake_docker: Path,
    project_dir: Path,
    state: StatePaths,
    healthy_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compose_stack, "register_prices", lambda settings, key: [])

    def no_login(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("no admin login with auth off")

    monkeypatch.setattr(compose_stack.keys, "create_system_api_key", no_login)
    for var in ("PHOENIX_API_KEY", "PHOENIX_ENABLE_AUTH"):
        monkeypatch.delenv(var, raising=False)
    (project_dir / ".env").write_text("LITELLM_MASTER_KEY=sk-team\nPHOENIX_ENABLE_AUTH=false\n")
    settings = StackSettings(proxy_port=healthy_port, phoenix_port=healthy_port)
    new_compose(settings, state, project_dir).up()
    assert [c["env"]["PHOENIX_API_KEY"] for c in compose_calls(fake_docker)] == [None, None]
    recorded = read_json(state.stack)
    assert recorded is not None and recorded["phoenix_api_key_file"] is None
    assert not state.phoenix_api_key.exists()
    assert "PHOENIX_SECRET" not in compose_stack.read_env_file(project_dir / ".env")


def test_older_env_file_gets_phoenix_secrets(project_dir: Path) -> None:
    env_file = project_dir / ".env"
    env_file.write_text("# team\nLITELLM_MASTER_KEY=sk-team-key\nPHOENIX_SECRET=\n")
    env_file.chmod(0o600)
    assert compose_stack.ensure_env_file(project_dir) == "sk-team-key"
    values = compose_stack.read_env_file(env_file)
    assert len(values["PHOENIX_SECRET"]) >= 32 and len(values["PHOENIX_DEFAULT_ADMIN_INITIAL_PASSWORD"]) >= 32
    assert env_file.read_text().startswith("# team\nLITELLM_MASTER_KEY=sk-team-key\nPHOENIX_SECRET=")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


@pytest.mark.parametrize("option", [{"offline": True}, {"phoenix_url": "http://127.0.0.1:1"}])
def test_up_refuses_options_docker_mode_lacks(
    fake_docker: Path, project_dir: Path, state: StatePaths, option: dict[str, Any]
) -> None:
    with pytest.raises(ClaudeSessionError) as caught:
        new_compose(StackSettings(**option), state, project_dir).up()
    assert caught.value.exit_code == 2
    assert "not available with --docker" in str(caught.value)


def test_env_without_a_usable_key_is_refused(project_dir: Path) -> None:
    (project_dir / ".env").write_text("LITELLM_MASTER_KEY=\n")
    with pytest.raises(ClaudeSessionError, match="set LITELLM_MASTER_KEY to a key starting with sk-"):
        compose_stack.ensure_env_file(project_dir)
    (project_dir / ".env").write_text("# team key\nexport LITELLM_MASTER_KEY='sk-team-key'\n")
    assert compose_stack.ensure_env_file(project_dir) == "sk-team-key"


def test_down_and_status_dispatch_from_the_command_line(
    fake_docker: Path,
    tmp_path: Path,
    healthy_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = StatePaths(tmp_path / "cli-state")
    state.ensure()
    record_docker_stack(state, healthy_port)
    monkeypatch.setenv("CLAUDE_SESSION_STATE_DIR", str(state.root))

    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "container claude-session-phoenix-1, running" in out
    assert "container claude-session-litellm-proxy-phoenix-1, exited" in out

    assert cli.main(["down"]) == 0
    assert capsys.readouterr().out.strip() == "stopped: phoenix"  # the proxy had exited
    assert [c["argv"][len(COMPOSE_PREFIX) :] for c in compose_calls(fake_docker)] == [["down"]]
    # The containers are listed through the engine by the project's label (either Compose sets it).
    listings = [c["argv"] for c in calls(fake_docker) if c["argv"][:1] == ["ps"]]
    assert len(listings) == 2
    assert all("label=com.docker.compose.project=claude-session" in argv for argv in listings)


FAKE_COMPOSE_V1 = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"argv": ["docker-compose", *args], "cwd": os.getcwd(), "env": {{}}}}) + "\\n")
if args[:1] == ["version"]:
    print("1.29.2")
sys.exit(0)
"""


def _install_fake_v1(fake_docker: Path) -> None:
    bin_dir = fake_docker.parent / "bin"
    v1 = bin_dir / "docker-compose"
    v1.write_text(FAKE_COMPOSE_V1.format(python=sys.executable))
    v1.chmod(v1.stat().st_mode | stat.S_IXUSR)


def test_compose_v1_is_used_when_the_plugin_is_missing(
    fake_docker: Path,
    project_dir: Path,
    state: StatePaths,
    healthy_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _install_fake_v1(fake_docker)
    monkeypatch.setenv("FAKE_DOCKER_NO_COMPOSE", "1")
    record_docker_stack(state, healthy_port)
    recorded_compose(state, project_dir).restart_proxy()
    v1_calls = [c["argv"] for c in calls(fake_docker) if c["argv"][0] == "docker-compose"]
    assert v1_calls[-1] == [
        "docker-compose",
        *COMPOSE_PREFIX[1:],
        "up",
        "-d",
        "--force-recreate",
        "litellm-proxy-phoenix",
    ]
    assert compose_calls(fake_docker) == []
    cli = compose_stack.require_docker(dict(os.environ))
    assert cli.v1 and cli.name == "docker-compose" and cli.version == "1.29.2"


def test_compose_choice_variable_picks_v1_over_the_plugin(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake_v1(fake_docker)
    chosen = compose_stack.require_docker({**os.environ, "CLAUDE_SESSION_COMPOSE": "docker-compose"})
    assert chosen.v1
    default = compose_stack.require_docker(dict(os.environ))
    assert default.name == "docker compose" and not default.v1


def test_neither_compose_is_one_line(
    fake_docker: Path, state: StatePaths, project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_NO_COMPOSE", "1")
    monkeypatch.setenv("PATH", str(fake_docker.parent / "bin"))  # no docker-compose either
    with pytest.raises(ClaudeSessionError) as caught:
        new_compose(StackSettings(), state, project_dir).up()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("neither `docker compose` (v2) nor `docker-compose` (v1.29+) works here")
    assert not (project_dir / ".env").exists()
