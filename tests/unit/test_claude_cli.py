"""Which Claude Code a session runs, and how a session shell's PATH comes to find it as `claude`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from claude_session.session import claude_cli
from claude_session.session.claude_cli import ClaudeCli, Origin
from claude_session.session.errors import SessionError


def _executable(path: Path, body: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bundled(tmp_path: Path) -> Path:
    return _executable(tmp_path / "tools" / ".bin" / "claude")


def test_the_users_own_claude_on_path_comes_before_the_pinned_copy(tmp_path: Path, bundled: Path) -> None:
    own = _executable(tmp_path / "own" / "claude")
    cli = claude_cli.choose({"PATH": str(own.parent)}, bundled)
    assert cli == ClaudeCli(str(own), Origin.PATH)


def test_the_pinned_copy_when_path_has_no_claude(tmp_path: Path, bundled: Path) -> None:
    cli = claude_cli.choose({"PATH": str(tmp_path / "empty")}, bundled)
    assert cli == ClaudeCli(str(bundled), Origin.BUNDLED)


def test_claude_session_claude_comes_first_by_name_or_path(tmp_path: Path, bundled: Path) -> None:
    own = _executable(tmp_path / "own" / "claude")
    beta = _executable(tmp_path / "own" / "claude-beta")
    by_name = claude_cli.choose({"PATH": str(own.parent), "CLAUDE_SESSION_CLAUDE": "claude-beta"}, bundled)
    by_path = claude_cli.choose({"PATH": "", "CLAUDE_SESSION_CLAUDE": str(beta)}, bundled)
    assert by_name == by_path == ClaudeCli(str(beta), Origin.EXPLICIT)


def test_a_claude_session_claude_that_is_not_executable_is_refused(tmp_path: Path, bundled: Path) -> None:
    with pytest.raises(SessionError, match=r"CLAUDE_SESSION_CLAUDE=.*nope is not an executable") as err:
        claude_cli.choose({"PATH": "", "CLAUDE_SESSION_CLAUDE": str(tmp_path / "nope")}, bundled)
    assert err.value.exit_code == 127


def test_none_anywhere_is_none_and_require_says_how_to_install(tmp_path: Path) -> None:
    environ = {"PATH": str(tmp_path)}
    assert claude_cli.choose(environ, tmp_path / "not-installed") is None
    with pytest.raises(SessionError, match="not on PATH; install it with `scripts/install`") as err:
        claude_cli.require(environ, tmp_path / "not-installed")
    assert err.value.exit_code == 127


def test_the_pinned_copy_goes_on_path_after_the_users_directories(tmp_path: Path, bundled: Path) -> None:
    user_path = f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"
    bin_dir = tmp_path / "session-bin"
    bin_dir.mkdir()
    env = claude_cli.env_with_claude(
        {"PATH": user_path, "X": "1"}, ClaudeCli(str(bundled), Origin.BUNDLED), bin_dir
    )
    assert env["PATH"] == f"{user_path}{os.pathsep}{bin_dir}"
    assert env["X"] == "1"
    found = shutil.which("claude", path=env["PATH"])
    assert found is not None and Path(found).resolve() == bundled.resolve()


def test_an_explicit_choice_goes_before_a_claude_already_on_path(tmp_path: Path) -> None:
    own = _executable(tmp_path / "own" / "claude")
    chosen = _executable(tmp_path / "chosen" / "claude-next")
    bin_dir = tmp_path / "session-bin"
    bin_dir.mkdir()
    env = claude_cli.env_with_claude(
        {"PATH": str(own.parent)}, ClaudeCli(str(chosen), Origin.EXPLICIT), bin_dir
    )
    found = shutil.which("claude", path=env["PATH"])
    assert found is not None and Path(found).resolve() == chosen.resolve()


def test_a_claude_found_on_path_leaves_path_alone(tmp_path: Path) -> None:
    own = _executable(tmp_path / "own" / "claude")
    bin_dir = tmp_path / "session-bin"
    bin_dir.mkdir()
    env = claude_cli.env_with_claude({"PATH": str(own.parent)}, ClaudeCli(str(own), Origin.PATH), bin_dir)
    assert env == {"PATH": str(own.parent)}
    assert list(bin_dir.iterdir()) == []
    assert claude_cli.env_with_claude({"PATH": "/x"}, None, bin_dir) == {"PATH": "/x"}


def test_the_banner_names_path_version_and_origin() -> None:
    cli = ClaudeCli("/opt/tools/claude", Origin.BUNDLED)
    assert claude_cli.describe(cli, "2.1.331 (Claude Code)") == (
        "`claude` here is /opt/tools/claude (2.1.331 (Claude Code); the project's pinned copy in .tools/)"
    )
    assert "(version unknown; " in claude_cli.describe(cli, None)
    assert claude_cli.describe(None, None).startswith("no `claude` here: ")


# The version probe starts a process (a two-line sh script): slow tier, as the tiers say.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('echo "9.9.9 (stand-in)"; echo second line', "9.9.9 (stand-in)"),
        ('echo "9.9.9 (stand-in)"; exit 3', None),
        ("exit 0", None),
        # A child that keeps stdout open past the timeout must not hold the caller.
        ("sleep 60 & sleep 60", None),
    ],
)
def test_version_of_reads_the_first_line_or_gives_up(tmp_path: Path, body: str, expected: str | None) -> None:
    claude = _executable(tmp_path / "claude", body)
    assert claude_cli.version_of(str(claude), {"PATH": os.defpath}, timeout=1.0) == expected


@pytest.mark.slow
def test_version_of_a_file_that_cannot_run_is_none(tmp_path: Path) -> None:
    not_executable = tmp_path / "claude"
    not_executable.write_text("#!/bin/sh\necho 1\n")
    assert claude_cli.version_of(str(not_executable), {}, timeout=1.0) is None
