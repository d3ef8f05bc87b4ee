"""`claude-session retention` refuses bad input with one line and exit 2, before reaching Phoenix."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_session.cli import main as cli


@pytest.mark.parametrize("days", ["0", "-3", "ten", "nan", "inf", ""])
def test_bad_days_are_one_line_and_exit_2(
    days: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A Phoenix URL nothing listens on: a value that got through would fail differently (exit 1).
    env = {"CLAUDE_SESSION_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)}
    code = cli.main(["retention", "--days", days, "--phoenix-url", "http://127.0.0.1:9"], env)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--days" in err and "Traceback" not in err


def test_days_are_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["retention"], {"CLAUDE_SESSION_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)})
    _, err = capsys.readouterr()
    assert code == 2 and "--days" in err


def test_help_names_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["retention", "--help"], {"CLAUDE_SESSION_STATE_DIR": str(tmp_path)})
    assert exited.value.code == 0 and "--days N" in capsys.readouterr().out
