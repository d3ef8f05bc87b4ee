"""Pid files hold the process's identity: `down` signals only the process `up` started.

In process: the processes named are this test's own, so a wrong signal would end the test.
"""

from __future__ import annotations

import os
from pathlib import Path

from claude_session.stack import procs


def test_a_pid_file_names_the_process_with_its_start_time(tmp_path: Path) -> None:
    pid_file = tmp_path / "me.pid"
    procs.write_pid(pid_file, os.getpid())
    pid, started = pid_file.read_text().split()
    assert int(pid) == os.getpid()
    assert started == procs.identity(os.getpid()) and started.count(":") == 1
    assert procs.read_pid(pid_file) == os.getpid()
    assert procs.stale_pid(pid_file) is None


def test_a_reused_pid_is_stale_and_never_signalled(tmp_path: Path) -> None:
    # What a reboot leaves: the recorded pid now names another process (here: this test).
    pid_file = tmp_path / "proxy.pid"
    boot, ticks = str(procs.identity(os.getpid())).split(":")
    pid_file.write_text(f"{os.getpid()} {boot}:{int(ticks) + 1}\n")
    assert procs.read_pid(pid_file) is None
    assert procs.stale_pid(pid_file) == os.getpid()
    assert procs.stop(pid_file, timeout=0.1) is False  # still alive to assert this
    assert not pid_file.exists()


def test_a_pid_file_without_identity_is_not_trusted(tmp_path: Path) -> None:
    pid_file = tmp_path / "old.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # the format before identities were recorded
    assert procs.read_pid(pid_file) is None
    assert procs.stale_pid(pid_file) == os.getpid()
    assert procs.stop(pid_file, timeout=0.1) is False


def test_a_pid_file_of_a_process_that_ended_is_neither_running_nor_stale(tmp_path: Path) -> None:
    pid_file = tmp_path / "gone.pid"
    pid_file.write_text("999999999 x:1\n")
    assert procs.read_pid(pid_file) is None and procs.stale_pid(pid_file) is None
    (tmp_path / "garbage.pid").write_text("not a pid")
    assert procs.read_pid(tmp_path / "garbage.pid") is None
