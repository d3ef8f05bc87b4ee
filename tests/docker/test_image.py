"""The proxy image end to end: built from the Dockerfile, run beside Phoenix and the fake upstream.

Three containers on one Docker network, as compose.yaml runs them: Phoenix (the image the
tier uses: compose's official one, or the local build of the same release), the proxy built
from the Dockerfile, and the project's fake Anthropic upstream run from the same image (so
the proxy reaches it by name). A session-tagged /v1/messages request must come back from
Phoenix's REST API as a span with the four session.* attributes and claude_code.session_id.
Every port a test publishes is bound to 127.0.0.1.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy

from claude_session.core import fields
from claude_session.phoenix.client import PhoenixClient
from claude_session.session import launcher
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths
from tests.support import REPO, Stack, session_of, wait_for_spans

pytestmark = pytest.mark.docker

PROJECT = "docker-tests"
UPSTREAM_ALIAS = "upstream"
UPSTREAM_PORT = 8089
START_TIMEOUT = 240  # first Phoenix start migrates its database; the proxy imports LiteLLM
UID = "10001"


def loopback(container: DockerContainer, *ports: int) -> DockerContainer:
    """Publish `ports` on 127.0.0.1 only, each on a free host port."""
    for port in ports:
        # docker-py's (host_ip,) binding: a free port on that address (with_bind_ports takes no IP).
        container.ports[f"{port}/tcp"] = ("127.0.0.1",)  # type: ignore[assignment]
    return container


@dataclass
class ContainerStack(Stack):
    """tests.support.Stack, with the proxy at a container's published port."""

    proxy_base: str = ""

    @property
    def proxy_url(self) -> str:
        return self.proxy_base


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    with Network() as net:
        yield net


@pytest.fixture(scope="module")
def phoenix(phoenix_image: str, network: Network) -> Iterator[DockerContainer]:
    container = loopback(
        DockerContainer(phoenix_image)
        .with_network(network)
        .with_network_aliases("phoenix")
        .with_env("PHOENIX_TELEMETRY_ENABLED", "false")
        .waiting_for(HttpWaitStrategy(6006, "/healthz").with_startup_timeout(START_TIMEOUT)),
        6006,
    )
    with container:
        yield container


@pytest.fixture(scope="module")
def upstream(image: str, network: Network) -> Iterator[DockerContainer]:
    container = loopback(
        DockerContainer(image)
        .with_network(network)
        .with_network_aliases(UPSTREAM_ALIAS)
        .with_kwargs(entrypoint=["python", "-m", "claude_session.testing.fake_upstream", "--host", "0.0.0.0"])
        .waiting_for(HttpWaitStrategy(UPSTREAM_PORT, "/").with_startup_timeout(60)),
        UPSTREAM_PORT,
    )
    with container:
        yield container


def _proxy(image: str, network: Network, master_key: str, **env: str) -> DockerContainer:
    return loopback(
        DockerContainer(image)
        .with_network(network)
        .with_envs(
            LITELLM_MASTER_KEY=master_key,
            ANTHROPIC_API_KEY="sk-offline-fake-upstream",  # the fake upstream takes any key
            CLAUDE_SESSION_UPSTREAM=f"http://{UPSTREAM_ALIAS}:{UPSTREAM_PORT}",
            PHOENIX_COLLECTOR_HTTP_ENDPOINT="http://phoenix:6006/v1/traces",
            PHOENIX_PROJECT_NAME=PROJECT,
            **env,
        )
        .waiting_for(HttpWaitStrategy(4000, "/health/liveliness").with_startup_timeout(START_TIMEOUT)),
        4000,
    )


def _stack(proxy: DockerContainer, phoenix: DockerContainer, master_key: str, tmp: Path) -> ContainerStack:
    host = proxy.get_container_host_ip()
    phoenix_url = f"http://{phoenix.get_container_host_ip()}:{phoenix.get_exposed_port(6006)}"
    return ContainerStack(
        settings=StackSettings(phoenix_url=phoenix_url, project=PROJECT),
        state=StatePaths(tmp),
        master_key=master_key,
        phoenix=PhoenixClient(phoenix_url),
        proxy_base=f"http://{host}:{proxy.get_exposed_port(4000)}",
    )


@pytest.fixture(scope="module")
def proxy(image: str, network: Network, phoenix: DockerContainer, upstream: DockerContainer) -> Iterator[Any]:
    master_key = "sk-docker-" + secrets.token_urlsafe(24)
    with _proxy(image, network, master_key) as container:
        container.master_key = master_key  # type: ignore[attr-defined]
        yield container


@pytest.fixture(scope="module")
def proxy_stack(
    proxy: Any, phoenix: DockerContainer, tmp_path_factory: pytest.TempPathFactory
) -> ContainerStack:
    return _stack(proxy, phoenix, proxy.master_key, tmp_path_factory.mktemp("docker-state"))


def test_session_headers_reach_phoenix_spans(proxy_stack: ContainerStack) -> None:
    session = launcher.Session.new("code-review", "v2", "docker-image").as_metadata()
    conversation = str(uuid.uuid4())
    response = proxy_stack.messages(
        session,
        stream=True,
        prompt="Review the auth module",
        extra_headers={fields.CLAUDE_CODE_HEADER: conversation},
    )
    assert response.status_code == 200, response.text
    (span,) = wait_for_spans(proxy_stack, {"session.id": session["session_id"]}, 1, timeout=90)
    attrs = session_of(span)
    expected = {
        "session.id": session["session_id"],
        "session.type": "code-review",
        "session.prompt_version": "v2",
        "session.name": "docker-image",
        "claude_code.session_id": conversation,
    }
    assert {k: attrs.get(k) for k in expected} == expected
    assert proxy_stack.master_key not in json.dumps(span)


def test_bad_session_header_and_wrong_key_are_refused(proxy_stack: ContainerStack) -> None:
    """The image's proxy carries the whole patch series: 400 for a bad header, 401 for a wrong key."""
    response = proxy_stack.messages(extra_headers={fields.SESSION_TYPE.header: "a:b"})
    assert response.status_code == 400
    wrong_key = proxy_stack.messages(extra_headers={fields.PROXY_KEY_HEADER: "sk-wrong"})
    assert wrong_key.status_code == 401


def test_healthcheck_turns_healthy_as_uid_10001(proxy: Any, docker_client: Any) -> None:
    container = docker_client.containers.get(proxy.get_wrapped_container().id)
    deadline = time.monotonic() + 120
    status = ""
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status", "")
        if status == "healthy":
            break
        time.sleep(2)
    assert status == "healthy"
    assert container.exec_run(["id", "-u"]).output.decode().strip() == UID
    top = container.top(ps_args="-o pid,uid,comm")  # the engine needs the PID column
    uid = top["Titles"].index("UID")
    assert top["Processes"] and all(row[uid] == UID for row in top["Processes"]), top
    # Every port it publishes is on the loopback interface.
    bindings = [b for ports in container.attrs["NetworkSettings"]["Ports"].values() for b in ports or []]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)


def test_no_secret_in_image_env_or_layers(image: str, docker_client: Any, proxy: Any) -> None:
    built = docker_client.images.get(image)
    secretish = ("KEY", "TOKEN", "SECRET", "PASSWORD")
    for entry in built.attrs["Config"]["Env"] or []:
        name, _, value = entry.partition("=")
        assert not (any(s in name for s in secretish) and value), entry
    history = json.dumps(built.history())
    assert proxy.master_key not in history
    assert "sk-" not in history.replace("sk-offline", "")
    listing = docker_client.containers.run(
        image,
        entrypoint=[
            "sh",
            "-c",
            "ls -a /opt/claude-session; grep -rl 'sk-docker-' /opt /etc /home 2>/dev/null || true",
        ],
        remove=True,
    ).decode()
    assert ".env\n" not in listing and ".git\n" not in listing
    assert "sk-docker-" not in listing


def test_proxy_wide_session_from_the_environment(
    image: str,
    network: Network,
    phoenix: DockerContainer,
    upstream: DockerContainer,
    tmp_path: Path,
) -> None:
    """The guide's way, as compose passes it: PHOENIX_SESSION_* in the proxy container's env."""
    session = launcher.Session.new("ci-pipeline", "v3", "proxy-wide").as_metadata()
    master_key = "sk-docker-" + secrets.token_urlsafe(24)
    with _proxy(image, network, master_key, **fields.to_env(session)) as proxy:
        stack = _stack(proxy, phoenix, master_key, tmp_path)
        assert stack.messages().status_code == 200  # no session header at all
        (span,) = wait_for_spans(stack, {"session.id": session["session_id"]}, 1, timeout=90)
    assert session_of(span)["session.type"] == "ci-pipeline"
    assert session_of(span)["session.prompt_version"] == "v3"
    assert session_of(span)["session.name"] == "proxy-wide"


def test_image_runs_as_non_root_with_labels_and_patches(image: str, docker_client: Any) -> None:
    config = docker_client.images.get(image).attrs["Config"]
    assert config["User"].split(":")[0] == UID
    # The proxy-wide session and the span spool live in the proxy-state volume.
    env = dict(entry.partition("=")[::2] for entry in config["Env"])
    assert env["CLAUDE_SESSION_PROXY_SESSION_FILE"] == "/var/lib/claude-session/proxy_session.json"
    assert env["CLAUDE_SESSION_SPOOL_DIR"] == "/var/lib/claude-session/spool"
    pin = next(
        line.split("==", 1)[1].strip()
        for line in (REPO / "requirements" / "pins.txt").read_text().splitlines()
        if line.startswith("litellm==")
    )
    labels = config["Labels"]
    assert labels["io.github.claude-session.litellm.version"] == pin
    assert labels["org.opencontainers.image.source"]
    assert labels["org.opencontainers.image.version"]
    marker = docker_client.containers.run(
        image,
        entrypoint=[
            "sh",
            "-c",
            "id -u; test -w /var/lib/claude-session/spool || echo spool not writable;"
            " cat /opt/venv/lib/python3*/site-packages/litellm/.claude-session-patches",
        ],
        remove=True,
    ).decode()
    uid, *lines = marker.splitlines()
    assert uid == UID
    assert f"applied to litellm {pin}" in lines[0]
    series = [
        line.strip()
        for line in (REPO / "patches" / "series").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[1:] == series


def test_missing_master_key_is_one_line_and_exit_1(image: str, docker_client: Any) -> None:
    container = docker_client.containers.run(image, detach=True, environment={"LITELLM_MASTER_KEY": ""})
    try:
        result = container.wait(timeout=60)
        logs = container.logs().decode().strip()
    finally:
        container.remove(force=True)
    assert result["StatusCode"] == 1
    assert logs.count("\n") == 0
    assert logs.startswith("claude-session entrypoint: LITELLM_MASTER_KEY is not set")
