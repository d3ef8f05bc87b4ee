"""The Docker image end to end: the image's proxy, a Phoenix container and the fake upstream.

Three containers on one Docker network, as compose.yaml runs them: Phoenix (the
image and tag compose.yaml pins), the proxy built from the Dockerfile, and the
project's fake Anthropic upstream run from the same image. A session-tagged
/v1/messages request must come back from Phoenix as a span carrying the four
session.* attributes, as in tests/integration/test_session_spans.py.

Needs a Docker engine (GitHub Actions: .github/workflows/docker.yml). Without one
the whole module is skipped, saying why (an error instead with
CLAUDE_SESSION_REQUIRE_DOCKER=1). CLAUDE_SESSION_TEST_IMAGE names an image
already built from the Dockerfile (CI builds it with buildx); otherwise the tests
build it here.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

try:
    import docker

    docker.from_env().ping()
except Exception as err:  # any failure to reach an engine: no socket, no permission, no client
    _reason = (
        f"no Docker engine reachable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
    )
    if os.environ.get("CLAUDE_SESSION_REQUIRE_DOCKER"):  # CI's docker workflow: a skip would hide it
        raise RuntimeError(_reason) from err
    pytest.skip(_reason, allow_module_level=True)

from testcontainers.core.container import DockerContainer
from testcontainers.core.image import DockerImage
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy

from claude_session.phoenix.client import PhoenixClient
from claude_session.session import fields, launcher
from claude_session.stack.local import StackSettings
from claude_session.stack.state import StatePaths
from tests.support import REPO, Stack, session_of, wait_for_spans

pytestmark = pytest.mark.docker

PROJECT = "docker-tests"
UPSTREAM_ALIAS = "upstream"
UPSTREAM_PORT = 8089
START_TIMEOUT = 240  # first Phoenix start migrates its database; the proxy imports LiteLLM


def _compose_image(service: str) -> str:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    return str(compose["services"][service]["image"])


@dataclass
class ContainerStack(Stack):
    """tests.support.Stack, with the proxy at a container's published port."""

    proxy_base: str = ""

    @property
    def proxy_url(self) -> str:
        return self.proxy_base


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    prebuilt = os.environ.get("CLAUDE_SESSION_TEST_IMAGE")
    if prebuilt:
        yield prebuilt
        return
    with DockerImage(path=REPO, tag=f"claude-session:test-{uuid.uuid4().hex[:8]}", clean_up=True) as built:
        yield str(built)


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    with Network() as net:
        yield net


@pytest.fixture(scope="module")
def phoenix(network: Network) -> Iterator[DockerContainer]:
    container = (
        DockerContainer(_compose_image("phoenix"))
        .with_network(network)
        .with_network_aliases("phoenix")
        .with_env("PHOENIX_TELEMETRY_ENABLED", "false")
        .with_exposed_ports(6006)
        .waiting_for(HttpWaitStrategy(6006, "/healthz").with_startup_timeout(START_TIMEOUT))
    )
    with container:
        yield container


@pytest.fixture(scope="module")
def upstream(image: str, network: Network) -> Iterator[DockerContainer]:
    container = (
        DockerContainer(image)
        .with_network(network)
        .with_network_aliases(UPSTREAM_ALIAS)
        .with_kwargs(entrypoint=["python", "-m", "claude_session.testing.fake_upstream", "--host", "0.0.0.0"])
        .with_exposed_ports(UPSTREAM_PORT)
        .waiting_for(HttpWaitStrategy(UPSTREAM_PORT, "/").with_startup_timeout(60))
    )
    with container:
        yield container


def _proxy(image: str, network: Network, master_key: str, **env: str) -> DockerContainer:
    container = (
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
        .with_exposed_ports(4000)
        .waiting_for(HttpWaitStrategy(4000, "/health/liveliness").with_startup_timeout(START_TIMEOUT))
    )
    return container


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
def proxy_stack(
    image: str,
    network: Network,
    phoenix: DockerContainer,
    upstream: DockerContainer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ContainerStack]:
    master_key = "sk-docker-" + secrets.token_urlsafe(24)
    with _proxy(image, network, master_key) as proxy:
        yield _stack(proxy, phoenix, master_key, tmp_path_factory.mktemp("docker-state"))


def test_session_headers_reach_phoenix_spans(proxy_stack: ContainerStack) -> None:
    session = launcher.Session.new("code-review", "v2", "docker-image").as_metadata()
    response = proxy_stack.messages(session, stream=True, prompt="Review the auth module")
    assert response.status_code == 200, response.text
    (span,) = wait_for_spans(proxy_stack, {"session.id": session["session_id"]}, 1, timeout=90)
    attrs = session_of(span)
    assert {k: v for k, v in attrs.items() if k.startswith("session.")} == {
        "session.id": session["session_id"],
        "session.type": "code-review",
        "session.prompt_version": "v2",
        "session.name": "docker-image",
    }
    assert proxy_stack.master_key not in json.dumps(span)


def test_bad_session_header_and_wrong_key_are_refused(proxy_stack: ContainerStack) -> None:
    """The image's proxy carries the whole patch series: 400 for a bad header, 401 for a wrong key."""
    response = proxy_stack.messages(extra_headers={fields.SESSION_TYPE.header: "a:b"})
    assert response.status_code == 400
    wrong_key = proxy_stack.messages(extra_headers={fields.PROXY_KEY_HEADER: "sk-wrong"})
    assert wrong_key.status_code == 401


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


def test_image_runs_as_non_root_with_labels_and_patches(image: str) -> None:
    client = docker.from_env()
    config = client.images.get(image).attrs["Config"]
    assert config["User"] not in ("", "root", "0")
    pin = next(
        line.split("==", 1)[1].strip()
        for line in (REPO / "requirements" / "pins.txt").read_text().splitlines()
        if line.startswith("litellm==")
    )
    labels = config["Labels"]
    assert labels["io.github.claude-session.litellm.version"] == pin
    assert labels["org.opencontainers.image.source"]
    assert labels["org.opencontainers.image.version"]
    marker = client.containers.run(
        image,
        entrypoint=[
            "sh",
            "-c",
            "id -u; cat /opt/venv/lib/python3*/site-packages/litellm/.claude-session-patches",
        ],
        remove=True,
    ).decode()
    uid, *lines = marker.splitlines()
    assert uid != "0"
    assert f"applied to litellm {pin}" in lines[0]
    series = [
        line.strip()
        for line in (REPO / "patches" / "series").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[1:] == series


def test_missing_master_key_is_one_line_and_exit_1(image: str) -> None:
    client = docker.from_env()
    container = client.containers.run(image, detach=True, environment={"LITELLM_MASTER_KEY": ""})
    try:
        result = container.wait(timeout=60)
        logs = container.logs().decode().strip()
    finally:
        container.remove(force=True)
    assert result["StatusCode"] == 1
    assert logs.count("\n") == 0
    assert logs.startswith("claude-session entrypoint: LITELLM_MASTER_KEY is not set")
