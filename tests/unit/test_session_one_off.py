"""A one-off run of the session use case: in a directory, its output captured, and a timeout that
ends the whole process group (what the experiment runner needs of it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from claude_session.session import launcher


@pytest.mark.slow  # runs sh
def test_a_one_off_runs_in_its_directory_with_its_output_captured(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with out.open("wb") as handle:
        code = launcher.run_one_off(os.environ, ["sh", "-c", "pwd; exit 3"], cwd=tmp_path, stdout=handle)
    assert code == 3
    assert out.read_text().strip() == str(tmp_path)


@pytest.mark.slow  # runs sh
def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    # The child starts a grandchild and waits: both must end when time is up.
    script = f"sleep 300 & echo $! > {marker}; wait"
    code = launcher.run_one_off(os.environ, ["sh", "-c", script], timeout=1.0)
    assert code == launcher.TIMED_OUT == 124
    grandchild = int(marker.read_text())
    for _ in range(100):  # the kill is sent; the kernel reaps it a moment later
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the grandchild {grandchild} outlived the timeout")
