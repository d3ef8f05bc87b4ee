"""Which Claude Code CLI a session runs, and making it the `claude` of a session shell.

The order is the launcher's: $CLAUDE_SESSION_CLAUDE, else `claude` on PATH (the user's own,
never shadowed), else the pinned copy scripts/install put in .tools/.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from claude_session import CHECKOUT
from claude_session.session.errors import SessionError

# The Claude Code CLI the project installs (scripts/install), used when none is on PATH.
BUNDLED_CLAUDE = CHECKOUT / ".tools" / "claude-code" / "node_modules" / ".bin" / "claude"
EXPLICIT_VAR = "CLAUDE_SESSION_CLAUDE"
# `claude --version` answers at once; past this the banner says "version unknown".
VERSION_TIMEOUT_S = 5.0
INSTALL_HINT = "install it with `scripts/install` or `npm install -g @anthropic-ai/claude-code`"


class Origin(Enum):
    EXPLICIT = f"chosen by ${EXPLICIT_VAR}"
    PATH = "your own, first on PATH"
    BUNDLED = "the project's pinned copy in .tools/"


@dataclass(frozen=True)
class ClaudeCli:
    path: str
    origin: Origin


def choose(environ: Mapping[str, str], bundled: Path = BUNDLED_CLAUDE) -> ClaudeCli | None:
    """The CLI the launcher runs, None if there is none; a bad $CLAUDE_SESSION_CLAUDE is an error."""
    path = environ.get("PATH")
    explicit = environ.get(EXPLICIT_VAR)
    if explicit:
        found = shutil.which(explicit, path=path)
        if not found:
            raise SessionError(f"{EXPLICIT_VAR}={explicit} is not an executable", exit_code=127)
        return ClaudeCli(os.path.abspath(found), Origin.EXPLICIT)
    found = shutil.which("claude", path=path)
    if found:
        return ClaudeCli(os.path.abspath(found), Origin.PATH)
    if bundled.exists():
        return ClaudeCli(str(bundled), Origin.BUNDLED)
    return None


def require(environ: Mapping[str, str], bundled: Path = BUNDLED_CLAUDE) -> ClaudeCli:
    """As `choose`, but no CLI at all is an error saying how to install one."""
    cli = choose(environ, bundled)
    if cli is None:
        raise SessionError(f"Claude Code (`claude`) is not on PATH; {INSTALL_HINT}", exit_code=127)
    return cli


def env_with_claude(env: Mapping[str, str], cli: ClaudeCli | None, bin_dir: Path) -> dict[str, str]:
    """`env` whose PATH finds `cli` as `claude`: through a link in `bin_dir`, unless it already does.

    The chosen CLI goes before the user's PATH ($CLAUDE_SESSION_CLAUDE is a deliberate choice);
    the pinned copy goes after it, where it finds no other `claude` to shadow.
    """
    result = dict(env)
    if cli is None or cli.origin is Origin.PATH:
        return result
    link = bin_dir / "claude"
    link.symlink_to(cli.path)
    current = result.get("PATH", os.defpath)
    first, last = (str(bin_dir), current) if cli.origin is Origin.EXPLICIT else (current, str(bin_dir))
    result["PATH"] = os.pathsep.join(part for part in (first, last) if part)
    return result


def version_of(path: str, env: Mapping[str, str], timeout: float = VERSION_TIMEOUT_S) -> str | None:
    """The first line `path --version` prints, or None if it fails or takes longer than `timeout`.

    Its output goes to a file, not a pipe, and on a timeout its whole process group is killed:
    a child that keeps a pipe open could otherwise hold the shell back.
    """
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                [path, "--version"],
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        out.seek(0)
        lines = out.read(4096).decode(errors="replace").strip().splitlines()
    if code != 0 or not lines:
        return None
    return lines[0].strip()[:80]


def describe(cli: ClaudeCli | None, version: str | None) -> str:
    """The banner line that says which `claude` a session shell runs."""
    if cli is None:
        return f"no `claude` here: none on PATH and none in .tools/; {INSTALL_HINT}"
    return f"`claude` here is {cli.path} ({version or 'version unknown'}; {cli.origin.value})"
