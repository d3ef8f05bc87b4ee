"""Background processes with pid files and log files, health waits, and stops by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from claude_session.stack.errors import StackError
from claude_session.stack.ports import free_port as free_port  # one chooser for every caller

NO_IDENTITY = "-"  # in a pid file written where /proc gives no start time


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that very process still runs, else None.

    A pid file holds the pid and the process's identity (see `identity`): after a reboot or a
    crash the pid may belong to an unrelated process, which must never be signalled."""
    recorded = _read_record(pid_file)
    if recorded is None:
        return None
    pid, started = recorded
    if not is_running(pid):
        return None
    now = identity(pid)
    if now is None and started == NO_IDENTITY:  # no /proc here: the pid is all there is
        return pid
    return pid if started is not None and now == started else None


def stale_pid(pid_file: Path) -> int | None:
    """The pid a pid file names when a process runs under it that is not the one started."""
    recorded = _read_record(pid_file)
    if recorded is None or not is_running(recorded[0]) or read_pid(pid_file) is not None:
        return None
    return recorded[0]


def identity(pid: int) -> str | None:
    """What tells this process from a later one with the same pid: the boot and the process's
    start time in clock ticks since boot (/proc/PID/stat, field 22). None where /proc has none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def _read_record(pid_file: Path) -> tuple[int, str | None] | None:
    try:
        words = pid_file.read_text().split()
        return int(words[0]), (words[1] if len(words) > 1 else None)
    except (OSError, ValueError, IndexError):
        return None


def write_pid(pid_file: Path, pid: int) -> None:
    """Record `pid` with its identity (read back by `read_pid`)."""
    pid_file.write_text(f"{pid} {identity(pid) or NO_IDENTITY}\n")


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers signal 0; reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def start(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    pid_file: Path,
    log_file: Path,
) -> int:
    """Start `argv` in its own process group, output appended to `log_file`; return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stopped as a whole, deaf to the terminal's ^C
        )
    write_pid(pid_file, proc.pid)
    return proc.pid


def stop(pid_file: Path, timeout: float = 15.0) -> bool:
    """Stop the process group recorded in `pid_file` (TERM, then KILL); True if one was running.

    Only the process that was started: a pid file whose pid now names another process is
    removed without signalling anything."""
    pid = read_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def http_ok(url: str, timeout: float = 2.0, method: str = "GET") -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(what: str, url: str, pid: int | None, log_file: Path | None, timeout: float) -> float:
    """Wait for `url` to answer 2xx, saying what we wait for; return the seconds it took."""
    print(f"waiting for {what} at {url} (up to {int(timeout)} s)...", file=sys.stderr, flush=True)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if http_ok(url):
            return time.monotonic() - started
        if pid is not None and not is_running(pid):
            raise StackError(f"{what} exited during start-up; last log lines:\n{tail(log_file)}")
        time.sleep(0.25)
    raise StackError(f"{what} did not answer at {url} within {int(timeout)} s; see {log_file}")


def tail(log_file: Path | None, lines: int = 15) -> str:
    if log_file is None or not log_file.exists():
        return "(no log)"
    content = log_file.read_text(errors="replace").splitlines()
    return "\n".join(content[-lines:])
