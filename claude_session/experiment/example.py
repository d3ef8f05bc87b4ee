"""`experiment init`: the commented example experiment, and the small repository its tasks use.

The repository is made from examples/repo-src with a fixed author, committer and date and without
the user's git configuration, so its one commit has the same sha on every machine: the example
file can pin it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from claude_session import CHECKOUT
from claude_session.experiment.errors import ExperimentError

EXAMPLES = CHECKOUT / "examples"
EXAMPLE_FILE = EXAMPLES / "experiment.toml"
REPO_SOURCE = EXAMPLES / "repo-src"
REPO_NAME = "example-repo"  # beside the experiment file, as the example's `repository` says
_FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "claude-session example",
    "GIT_AUTHOR_EMAIL": "example@claude-session.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "claude-session example",
    "GIT_COMMITTER_EMAIL": "example@claude-session.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(directory: Path, environ: Mapping[str, str], *args: str) -> str:
    env = {**environ, **_FIXED_IDENTITY}
    done = subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise ExperimentError(f"git {args[0]} in {directory}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


def make_example_repo(destination: Path, environ: Mapping[str, str]) -> str:
    """A git repository of examples/repo-src at `destination` (must not exist); its commit's sha.
    `environ`: the user's environment (git's PATH and HOME), without their git configuration."""
    shutil.copytree(REPO_SOURCE, destination)
    _git(destination, environ, "init", "--quiet", "--initial-branch=main")
    _git(destination, environ, "add", "--all")
    message = "Example repository: two bugs, two failing tests"
    _git(destination, environ, "commit", "--quiet", "--no-gpg-sign", "-m", message)
    return _git(destination, environ, "rev-parse", "HEAD")


def init(target: Path, environ: Mapping[str, str]) -> list[Path]:
    """Write the example experiment file to `target` and its repository beside it; what was made."""
    if target.exists():
        raise ExperimentError(f"{target} already exists; not overwriting it", exit_code=2)
    if not EXAMPLE_FILE.is_file():
        raise ExperimentError(f"the example {EXAMPLE_FILE} is missing from this installation")
    target.parent.mkdir(parents=True, exist_ok=True)
    made = [target]
    repo = target.parent / REPO_NAME
    if not repo.exists():
        make_example_repo(repo, environ)
        made.append(repo)
    shutil.copyfile(EXAMPLE_FILE, target)
    return made
