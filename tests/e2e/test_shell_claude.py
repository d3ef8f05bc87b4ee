"""`claude` typed inside a real session shell (driven in tmux) on a PATH that holds no `claude`:
the pinned copy from .tools/ runs, tagged with the session; a `claude` of the user's own, or
$CLAUDE_SESSION_CLAUDE, runs instead when there is one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_session.session import claude_cli
from tests.e2e.conftest import announced_session
from tests.support import LAUNCHER, Stack, session_of, wait_for_spans

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/install --dev)"),
]

# A stand-in for Claude Code: answers --version, and records its argv and session environment.
STAND_IN = """#!{python}
import json, os, sys
if sys.argv[1:] == ["--version"]:
    print({version!r})
    raise SystemExit(0)
seen = {{
    "argv": sys.argv[1:],
    "session": os.environ.get("CLAUDE_SESSION_ID"),
    "headers": os.environ.get("ANTHROPIC_CUSTOM_HEADERS", ""),
}}
with open({record!r}, "w") as out:
    json.dump(seen, out)
"""


def _path_without_claude() -> str:
    """The test's PATH minus every directory that holds a `claude`: a fresh machine's PATH."""
    dirs = [
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not shutil.which("claude", path=d)
    ]
    path = os.pathsep.join(dirs)
    assert shutil.which("claude", path=path) is None
    return path


def _stand_in(directory: Path, name: str, version: str) -> tuple[Path, Path]:
    record = directory / f"{name}.json"
    script = directory / "bin" / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(STAND_IN.format(python=sys.executable, version=version, record=str(record)))
    script.chmod(0o755)
    return script, record


class TmuxShell:
    """`scripts/claude-session ... --shell` in a private tmux server: type lines, read the screen."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.tmux = ["tmux", "-L", f"cs-claude-{uuid.uuid4().hex[:8]}"]
        self.env = env
        self.cwd = cwd

    def start(self, *args: str) -> None:
        command = " ".join([str(LAUNCHER), *args, "--shell"])
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", "cs", "-x", "250", "-y", "50", command],
            env=self.env,
            cwd=self.cwd,
            check=True,
        )

    def type(self, line: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "cs", line, "Enter"], check=True)

    def screen(self) -> str:
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-J", "-t", "cs", "-S", "-200"], capture_output=True, text=True
        ).stdout

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            match = re.search(pattern, screen, re.MULTILINE)
            if match:
                return match
            time.sleep(0.3)
        raise AssertionError(f"{pattern!r} never appeared; screen:\n{screen}")

    def exit_and_wait(self) -> None:
        self.type("exit")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if subprocess.run([*self.tmux, "has-session", "-t", "cs"], capture_output=True).returncode:
                return
            time.sleep(0.2)
        raise AssertionError("the session shell did not end on `exit`")

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def shell_env(live_stack: Stack, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {
        **live_stack.env,
        "PATH": _path_without_claude(),
        "HOME": str(home),
        "SHELL": "/bin/bash",
        "TERM": "xterm",
        "CLAUDE_SESSION_RATE_PROMPT": "0",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


@pytest.fixture
def shell(shell_env: dict[str, str], tmp_path: Path) -> Iterator[TmuxShell]:
    running = TmuxShell(shell_env, tmp_path)
    try:
        yield running
    finally:
        running.kill()


def _pinned_version() -> str:
    """The version scripts/install pinned, read from the installed package itself."""
    package = claude_cli.BUNDLED_CLAUDE.parents[1] / "@anthropic-ai" / "claude-code" / "package.json"
    return str(json.loads(package.read_text())["version"])


def test_claude_in_the_shell_runs_the_pinned_copy_and_carries_the_session(
    live_stack: Stack, shell: TmuxShell
) -> None:
    assert claude_cli.BUNDLED_CLAUDE.exists(), "scripts/install puts Claude Code in .tools/"
    shell.start("-t", "fresh-machine", "-v", "v4")
    banner = shell.wait_for(r"^claude-session: `claude` here is (\S+) \((.*); (.*)\)$")
    session_id = announced_session(shell.screen())
    assert banner.group(1) == str(claude_cli.BUNDLED_CLAUDE)
    assert banner.group(2) == f"{_pinned_version()} (Claude Code)"
    assert banner.group(3) == "the project's pinned copy in .tools/"

    shell.type('echo "RESOLVED=$(readlink -f "$(type -P claude)")"')
    resolved = shell.wait_for(r"^RESOLVED=(\S+)$").group(1)
    assert resolved == str(claude_cli.BUNDLED_CLAUDE.resolve())
    shell.type('claude -p "hello from a fresh machine" </dev/null; echo "RC=$?"')
    assert shell.wait_for(r"^RC=(\d+)$", timeout=120).group(1) == "0"
    shell.exit_and_wait()

    (span,) = wait_for_spans(live_stack, {"session.id": session_id}, 1)
    attributes = session_of(span)
    assert (attributes["session.id"], attributes["session.type"], attributes["session.prompt_version"]) == (
        session_id,
        "fresh-machine",
        "v4",
    )


def test_a_claude_of_your_own_on_path_runs_instead_of_the_pinned_copy(
    live_stack: Stack, shell: TmuxShell, shell_env: dict[str, str], tmp_path: Path
) -> None:
    own, record = _stand_in(tmp_path, "claude", "0.0.1 (stand-in)")
    shell_env["PATH"] = f"{own.parent}{os.pathsep}{shell_env['PATH']}"
    shell.start("-t", "own-claude", "-v", "v2")
    banner = shell.wait_for(r"^claude-session: `claude` here is (\S+) \((.*); (.*)\)$")
    session_id = announced_session(shell.screen())
    assert banner.groups() == (str(own), "0.0.1 (stand-in)", "your own, first on PATH")

    shell.type("claude -p 'hello'; echo \"RC=$?\"")
    assert shell.wait_for(r"^RC=(\d+)$").group(1) == "0"
    shell.exit_and_wait()
    ran = json.loads(record.read_text())
    assert ran["argv"] == ["-p", "hello"]
    assert ran["session"] == session_id
    assert f"x-session-tracking-id: {session_id}" in ran["headers"].splitlines()

    # A one-off with `--` runs the same one.
    record.unlink()
    one_off = live_stack.launcher("-t", "own-claude", "--", "--print", "again", env=shell_env)
    assert one_off.returncode == 0, one_off.stderr
    assert json.loads(record.read_text())["argv"] == ["--print", "again"]


def test_claude_session_claude_is_the_shells_claude_even_over_your_own(
    shell: TmuxShell, shell_env: dict[str, str], tmp_path: Path
) -> None:
    own, own_record = _stand_in(tmp_path, "claude", "0.0.1 (stand-in)")
    chosen, chosen_record = _stand_in(tmp_path / "elsewhere", "claude-next", "0.0.2 (chosen)")
    shell_env["PATH"] = f"{own.parent}{os.pathsep}{shell_env['PATH']}"
    shell_env["CLAUDE_SESSION_CLAUDE"] = str(chosen)
    shell.start("-t", "chosen-claude")
    banner = shell.wait_for(r"^claude-session: `claude` here is (\S+) \((.*); (.*)\)$")
    assert banner.groups() == (str(chosen), "0.0.2 (chosen)", "chosen by $CLAUDE_SESSION_CLAUDE")

    shell.type("claude -p 'which one'; echo \"RC=$?\"")
    assert shell.wait_for(r"^RC=(\d+)$").group(1) == "0"
    shell.exit_and_wait()
    assert json.loads(chosen_record.read_text())["argv"] == ["-p", "which one"]
    assert not own_record.exists()


def test_the_shell_banner_says_version_unknown_when_claude_cannot_tell(
    shell: TmuxShell, shell_env: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "bin" / "claude"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    shell_env["PATH"] = f"{broken.parent}{os.pathsep}{shell_env['PATH']}"
    shell.start("-t", "no-version")
    banner = shell.wait_for(r"^claude-session: `claude` here is (\S+) \((.*); (.*)\)$")
    assert banner.groups() == (str(broken), "version unknown", "your own, first on PATH")
    shell.type('echo "ALIVE=$((6 * 7))"')
    shell.wait_for(r"^ALIVE=42$")
    shell.exit_and_wait()


def test_a_claude_session_claude_that_is_not_executable_stops_the_shell_before_it_opens(
    live_stack: Stack, shell_env: dict[str, str], tmp_path: Path
) -> None:
    shell_env["CLAUDE_SESSION_CLAUDE"] = str(tmp_path / "nope")
    result = live_stack.launcher("-t", "bad-claude", "--shell", env=shell_env)
    assert result.returncode == 127
    assert (
        result.stderr == f"claude-session: CLAUDE_SESSION_CLAUDE={tmp_path / 'nope'} is not an executable\n"
    )
    assert "active in this shell" not in result.stdout + result.stderr


def test_a_one_off_with_dashes_runs_the_pinned_copy_too(live_stack: Stack, shell_env: dict[str, str]) -> None:
    result = live_stack.launcher(
        "-t", "fresh-one-off", "-v", "v3", "--", "-p", "hello", "--output-format", "json", env=shell_env
    )
    assert result.returncode == 0, result.stderr
    session_id = announced_session(result.stderr)
    assert json.loads(result.stdout)["type"] == "result"
    (span,) = wait_for_spans(live_stack, {"session.id": session_id}, 1)
    assert (session_of(span)["session.type"], session_of(span)["session.prompt_version"]) == (
        "fresh-one-off",
        "v3",
    )
