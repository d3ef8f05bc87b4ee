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


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_running(pid) else None


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
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop(pid_file: Path, timeout: float = 15.0) -> bool:
    """Stop the process group recorded in `pid_file` (TERM, then KILL); True if one was running."""
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
