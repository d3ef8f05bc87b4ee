"""The Docker tier's shared pieces: the engine check, and each image built once per run.

Needs a Docker engine: scripts/test starts a private one (scripts/docker-engine) when none
answers. Without one the tier is skipped, saying why (an error instead with
CLAUDE_SESSION_REQUIRE_DOCKER=1, as CI's docker workflow sets).

Images (session-scoped, shared by every test):
- the proxy: CLAUDE_SESSION_TEST_IMAGE if set (CI builds it with buildx), else built here
  from the Dockerfile, on CLAUDE_SESSION_DOCKER_BASE when set (a local Python 3.11 base,
  as scripts/docker-engine makes; the PYTHON_IMAGE build argument) or the pinned default;
- Phoenix: with a local base, built from docker/phoenix/Dockerfile (the pinned arize-phoenix
  from PyPI); else compose.yaml's official image;
- PostgreSQL: with a local base, docker/postgres/Dockerfile (Debian's postgresql-15); else
  compose.postgres.yaml's official image.
Build times are printed in the terminal summary (`docker tier build times: ...`).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

# testcontainers' reaper (Ryuk) is an image from a registry: clean up with context managers.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
# Reach containers at the engine's host and their published port, even when the tests run
# inside a container (testcontainers would use the network gateway there): every port is
# published on 127.0.0.1 only, which no gateway address reaches.
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

REPO = Path(__file__).resolve().parents[2]
BASE_VAR = "CLAUDE_SESSION_DOCKER_BASE"
TIMINGS: dict[str, float] = {}


def engine_reason() -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as err:  # any failure to reach an engine: no socket, no permission, no client
        first = str(err).splitlines()[0] if str(err) else ""
        return f"no Docker engine reachable ({type(err).__name__}: {first})"
    return None


_REASON = engine_reason()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _REASON is None:
        return
    if os.environ.get("CLAUDE_SESSION_REQUIRE_DOCKER"):  # CI's docker workflow: a skip would hide it
        raise pytest.UsageError(_REASON)
    skip = pytest.mark.skip(reason=_REASON)
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


# Build times, one "tag seconds" line each, shared by pytest-xdist workers and the controller.
TIMINGS_FILE = REPO / ".state" / "docker-build-times"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        TIMINGS_FILE.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS_FILE.exists():
        lines = TIMINGS_FILE.read_text().splitlines()
        if lines:
            terminalreporter.write_line("docker tier build times: " + ", ".join(lines))


def compose_image(file: str, service: str) -> str:
    """The image a compose file names for `service`, with its ${VAR:-default} resolved to the default."""
    image = str(yaml.safe_load((REPO / file).read_text())["services"][service]["image"])
    if image.startswith("${") and ":-" in image:
        image = image.split(":-", 1)[1].rstrip("}")
    return image


class BuildFailed(Exception):
    def __init__(self, log: str) -> None:
        super().__init__(log.strip().splitlines()[-1] if log.strip() else "build failed")
        self.log = log


def build(
    path: Path, tag: str, dockerfile: str = "Dockerfile", target: str | None = None, **buildargs: str
) -> str:
    """`docker build` through the engine API (the legacy builder: no registry for BuildKit's
    frontend); returns the whole output, raises BuildFailed with it."""
    import docker

    api = docker.from_env().api
    lines: list[str] = []
    with _one_build_at_a_time(path, dockerfile):
        started = time.monotonic()
        _build(api, lines, path, tag, dockerfile, target, buildargs)
    seconds = time.monotonic() - started
    TIMINGS[tag] = seconds
    with TIMINGS_FILE.open("a") as timings:
        timings.write(f"{tag} {seconds:.0f}s\n")
    return "".join(lines)


@contextmanager
def _one_build_at_a_time(path: Path, dockerfile: str) -> Iterator[None]:
    """Serialise builds of one Dockerfile across pytest-xdist workers: two uncached builds at
    once would each run the whole install; one after the other, the second reuses the first
    one's layers. Different Dockerfiles still build side by side."""
    lock = REPO / ".state" / f"docker-build-{path.name}-{dockerfile.replace('/', '-')}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(
    api: Any,
    lines: list[str],
    path: Path,
    tag: str,
    dockerfile: str,
    target: str | None,
    buildargs: dict[str, str],
) -> None:
    for chunk in api.build(
        path=str(path),
        tag=tag,
        dockerfile=dockerfile,
        target=target,
        buildargs=buildargs,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "stream" in chunk:
            lines.append(chunk["stream"])
        if "error" in chunk:
            lines.append(chunk["error"])
            raise BuildFailed("".join(lines))


def base_args() -> dict[str, str]:
    base = os.environ.get(BASE_VAR)
    return {"PYTHON_IMAGE": base} if base else {}


@pytest.fixture(scope="session")
def image() -> str:
    """The proxy image from the Dockerfile, built once per run."""
    prebuilt = os.environ.get("CLAUDE_SESSION_TEST_IMAGE")
    if prebuilt:
        return prebuilt
    tag = "claude-session:docker-tests"
    build(REPO, tag, **base_args())
    return tag


@pytest.fixture(scope="session")
def builder_image(image: str) -> str:
    """The Dockerfile's builder stage (cached layers of `image`): a base with the venv installed."""
    tag = "claude-session:docker-tests-builder"
    build(REPO, tag, target="builder", **base_args())
    return tag


@pytest.fixture(scope="session")
def phoenix_image() -> str:
    if not os.environ.get(BASE_VAR):
        return compose_image("compose.yaml", "phoenix")
    tag = "claude-session-local/phoenix:docker-tests"
    build(REPO, tag, dockerfile="docker/phoenix/Dockerfile", **base_args())
    return tag


@pytest.fixture(scope="session")
def postgres_image() -> str:
    if not os.environ.get(BASE_VAR):
        return compose_image("compose.postgres.yaml", "postgres")
    tag = "claude-session-local/postgres:docker-tests"
    build(REPO / "docker" / "postgres", tag, **base_args())
    return tag


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    import docker

    client = docker.from_env()
    yield client
    client.close()
