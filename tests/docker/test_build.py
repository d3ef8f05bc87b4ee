"""The Dockerfile builds through scripts/install and scripts/apply-patches: a broken patch fails it.

The broken build starts from the Dockerfile's builder stage of this run (its venv already
installed, so only scripts/install and apply-patches run again, not the whole pip install):
the same Dockerfile and context, one patch changed so that it no longer applies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.docker.conftest import REPO, BuildFailed, build

pytestmark = pytest.mark.docker

CONTEXT = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")
CONTEXT_DIRS = ("requirements", "patches", "overlay", "scripts", "claude_session", "docker")


def _first_patch() -> str:
    for line in (REPO / "patches" / "series").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            return line.strip()
    raise AssertionError("patches/series lists no patch")


def _break(patch: Path) -> None:
    """Change the first context line of the first hunk: the patch applies neither way."""
    lines = patch.read_text().splitlines(keepends=True)
    in_hunk = False
    for i, line in enumerate(lines):
        if line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith(" ") and line.strip():
            lines[i] = " # this line is not in LiteLLM\n"
            break
    else:
        raise AssertionError(f"no context line in {patch.name}")
    patch.write_text("".join(lines))


def test_a_patch_that_does_not_apply_fails_the_build(builder_image: str, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for name in CONTEXT:
        shutil.copy2(REPO / name, context / name)
    for name in CONTEXT_DIRS:
        shutil.copytree(REPO / name, context / name, ignore=shutil.ignore_patterns("__pycache__"))
    name = _first_patch()
    _break(context / "patches" / name)
    with pytest.raises(BuildFailed) as failed:
        build(context, "claude-session:docker-tests-broken", PYTHON_IMAGE=builder_image)
    assert f"patch {name} does not apply" in failed.value.log
    assert "returned a non-zero code" in failed.value.log or "exit code" in failed.value.log
