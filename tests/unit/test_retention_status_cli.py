"""`claude-session retention` refuses bad input with one line and exit 2, before reaching Phoenix;
`status` shows the report cache."""

from __future__ import annotations

import json
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


def test_status_shows_where_the_report_cache_is_and_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "report-cache"
    cache.mkdir()
    (cache / "spans-0123.duckdb").write_bytes(b"\0" * 3 * 2**20)  # size is all status reads
    code = cli.main(["status"], {"CLAUDE_SESSION_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)})
    out = capsys.readouterr().out
    assert code == 1  # no stack recorded
    assert f"report cache: {cache} (1 file, 3.0 MB;" in out
    cli.main(["status", "--json"], {"CLAUDE_SESSION_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)})
    found = json.loads(capsys.readouterr().out)["report_cache"]
    assert found == {"dir": str(cache), "files": 1, "bytes": 3 * 2**20, "max_age_days": 400}
