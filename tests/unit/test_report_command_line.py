"""The report command line: its --help tells the truth, and out-of-range input is one usage line."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_session.cli.main import main
from claude_session.cli.report import build_parser
from claude_session.report import chart


def test_chart_help_names_every_format_the_chart_writer_takes() -> None:
    help_text = " ".join(build_parser("claude-session report", sessions=False).format_help().split())
    assert "--chart FILE" in help_text
    for suffix in chart.PICTURES:  # the extensions chart.write draws as pictures
        assert suffix in help_text
    assert "any other an HTML page" in help_text


@pytest.mark.parametrize("value", ["9999999999d", "1000000w"])
def test_since_too_far_back_is_one_line_and_exit_2(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"CLAUDE_SESSION_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)}
    assert main(["report", "--since", value, "--phoenix-url", "http://127.0.0.1:9"], environ) == 2
    err = capsys.readouterr().err
    assert err == f"claude-session: --since {value!r}: reaches back before the year 1; use a shorter window\n"
