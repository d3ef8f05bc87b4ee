"""A run's own directories: a detached git worktree of the task's commit (a copy for a plain
directory) and a fresh HOME, both under the experiment's state directory, removed afterwards.

The user's checkout is only ever read: `git worktree add` records the new worktree in the
repository's `.git/worktrees/`, which `remove` takes out again (and `git worktree prune` cleans
after a crash).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.spec import Task

# `git worktree add` on one repository from several threads could race on .git/worktrees.
_REPO_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _repo_lock(repository: Path) -> threading.Lock:
    with _LOCKS_LOCK:
        return _REPO_LOCKS.setdefault(repository, threading.Lock())


@dataclass(frozen=True)
class Workspace:
    root: Path  # everything of the run: its tree, home/, logs

    @property
    def tree(self) -> Path:
        """The task's files at its commit: Claude Code and the check run here. Named like the run,
        because git names the worktree's record after it: runners of several shards add worktrees
        to one repository at the same time, and unique names cannot collide."""
        return self.root / self.root.name

    @property
    def home(self) -> Path:
        """HOME of the run; CLAUDE_CONFIG_DIR is its .claude."""
        return self.root / "home"

    @property
    def config_dir(self) -> Path:
        return self.home / ".claude"


def _git(repository: Path, *args: str) -> None:
    done = subprocess.run(
        ["git", "-C", str(repository), *args], capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ExperimentError(f"git {args[0]} {args[1] if len(args) > 1 else ''} in {repository}: {reason}")


def create(task: Task, root: Path) -> Workspace:
    """The run's worktree (or copy) and an empty HOME under `root` (which must not exist)."""
    workspace = Workspace(root)
    root.mkdir(parents=True)
    workspace.config_dir.mkdir(parents=True)
    if task.commit is None:
        shutil.copytree(task.repository, workspace.tree, symlinks=True)
    else:
        with _repo_lock(task.repository):
            _git(task.repository, "worktree", "add", "--detach", "--quiet", str(workspace.tree), task.commit)
    return workspace


def remove(task: Task, root: Path) -> None:
    """Remove a run's directories and the repository's record of its worktree (idempotent)."""
    tree = Workspace(root).tree
    if task.commit is not None:
        with _repo_lock(task.repository):
            if tree.exists():
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(task.repository),
                        "worktree",
                        "remove",
                        "--force",
                        "--force",
                        str(tree),
                    ],
                    capture_output=True,
                    check=False,
                    timeout=120,
                )
    shutil.rmtree(root, ignore_errors=True)
    if task.commit is not None:
        with _repo_lock(task.repository):
            subprocess.run(
                ["git", "-C", str(task.repository), "worktree", "prune"],
                capture_output=True,
                check=False,
                timeout=120,
            )
