"""Starting Claude Code for one run: its arguments, its environment, the process and its result.

The session environment comes from the launcher (`session_env`), as for `claude-session "prompt"`;
the run adds its own HOME and CLAUDE_CONFIG_DIR and the variant's settings. Claude Code runs in
its own process group, so Ctrl-C reaches the runner only, which then stops it; under `setpriv
--pdeathsig KILL` (util-linux) the kernel also kills it when the runner itself dies (SIGKILL).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from claude_session.experiment.spec import Task, Variant
from claude_session.experiment.workspace import Workspace
from claude_session.session import launcher
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

# Headless runs cannot answer a permission question: file edits are allowed unless the variant
# chooses its own permission flags.
DEFAULT_PERMISSIONS = ("--permission-mode", "acceptEdits")
PERMISSION_FLAGS = (
    "--permission-mode",
    "--dangerously-skip-permissions",
    "--allowedTools",
    "--allowed-tools",
)
QUIET_ENV = {"DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
RESULT_CHARS = 2000


def claude_args(
    claude: str, task: Task, variant: Variant, claude_session_id: str, max_budget_usd: float | None
) -> list[str]:
    args = [claude, "-p", task.prompt, "--output-format", "json", "--session-id", claude_session_id]
    if not any(a.split("=", 1)[0] in PERMISSION_FLAGS for a in variant.extra_args):
        args += DEFAULT_PERMISSIONS
    if variant.model:
        args += ["--model", variant.model]
    if variant.append_system_prompt:
        args += ["--append-system-prompt", variant.append_system_prompt]
    if variant.settings:
        args += ["--settings", variant.settings]
    if variant.agents:
        args += ["--agents", variant.agents]
    if task.max_turns is not None:
        args += ["--max-turns", str(task.max_turns)]
    if max_budget_usd is not None:
        args += ["--max-budget-usd", f"{max_budget_usd:g}"]
    return args + list(variant.extra_args)


def run_env(
    session: launcher.Session,
    settings: StackSettings,
    state: StatePaths,
    base: Mapping[str, str],
    variant: Variant,
    workspace: Workspace,
) -> dict[str, str]:
    own = {**base, **variant.env, "HOME": str(workspace.home), "CLAUDE_CONFIG_DIR": str(workspace.config_dir)}
    for name, value in QUIET_ENV.items():
        own.setdefault(name, value)
    return launcher.session_env(session, settings, state, own)


@dataclass(frozen=True)
class ClaudeResult:
    exit_code: int | None  # None: stopped by the harness (timeout or interrupt)
    timed_out: bool
    interrupted: bool
    output: dict[str, Any]  # Claude Code's JSON result ({} when there is none)

    @property
    def infra_reason(self) -> str | None:
        """Why this is an infrastructure failure (not the variant's), or None."""
        if self.timed_out:
            return "harness timeout"
        if not self.output:
            return f"Claude Code exited {self.exit_code} without a JSON result"
        if self.output.get("is_error") and (
            self.output.get("api_error_status") is not None
            or self.output.get("subtype") == "error_during_execution"
        ):
            status = self.output.get("api_error_status")
            return f"Claude Code stopped on an API error ({status or self.output.get('subtype')})"
        return None

    @property
    def output_tokens(self) -> int:
        """Output tokens over every model Claude Code used (sub-agents too)."""
        models = self.output.get("modelUsage")
        if isinstance(models, dict) and models:
            return sum(int(m.get("outputTokens") or 0) for m in models.values() if isinstance(m, dict))
        usage = self.output.get("usage")
        return int(usage.get("output_tokens") or 0) if isinstance(usage, dict) else 0

    @property
    def turns(self) -> int:
        return int(self.output.get("num_turns") or 0)

    @property
    def duration_s(self) -> float:
        return float(self.output.get("duration_ms") or 0) / 1000

    @property
    def text(self) -> str:
        result = self.output.get("result")
        return result[:RESULT_CHARS] if isinstance(result, str) else ""


class ProcessGroups:
    """The Claude Code processes in flight, so Ctrl-C can stop every one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.stopping = threading.Event()

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.add(process)
        if self.stopping.is_set():
            _kill_group(process)

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(process)

    def stop_all(self) -> None:
        self.stopping.set()
        with self._lock:
            running = list(self._running)
        for process in running:
            _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # its own group: start_new_session
    except ProcessLookupError:
        pass


def _with_parent_death_signal(args: list[str]) -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *args] if setpriv else args


def run_guarded(
    args: list[str],
    cwd: Path,
    env: Mapping[str, str],
    stdout: IO[bytes],
    stderr: IO[bytes] | int,
    timeout_s: float,
    groups: ProcessGroups,
) -> tuple[int | None, bool]:
    """Run a process of a run (Claude Code, the check) in its own process group, dying with the
    runner, stoppable by Ctrl-C; its exit code (None when stopped) and whether it timed out."""
    process = subprocess.Popen(
        _with_parent_death_signal(args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    groups.add(process)
    try:
        return process.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.wait()
        return None, True
    finally:
        groups.discard(process)


def run_claude(
    args: list[str],
    env: Mapping[str, str],
    workspace: Workspace,
    timeout_s: float,
    groups: ProcessGroups,
) -> ClaudeResult:
    """Run Claude Code in the worktree, stdin /dev/null; its stdout and stderr go to files."""
    stdout_path, stderr_path = workspace.root / "claude.json", workspace.root / "claude.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        code, timed_out = run_guarded(args, workspace.tree, env, out, err, timeout_s, groups)
    interrupted = groups.stopping.is_set()
    return ClaudeResult(None if interrupted else code, timed_out, interrupted, _parse(stdout_path))


def _parse(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace") or "null")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
