"""Free 127.0.0.1 ports for private stacks (demo, tests, bench), chosen so that nothing else
takes one between the choice and the moment its server binds it, which for Phoenix on a
fresh database can be many seconds later.

Two things could take it: the kernel, which gives ports from its ephemeral range to every
outgoing connection (Phoenix's own database connections at start-up among them), and another
process choosing at the same time (the test suite runs in two). So a port is chosen outside
the ephemeral range, and reserved with a lock file that this process holds until the
reservation expires; every chooser on the machine skips a locked port.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
import time
from pathlib import Path
from typing import IO

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Below this, ports belong to well-known services more often than not.
LOWEST_PORT = 10000
HIGHEST_PORT = 65535
# Fewer candidates than this outside the ephemeral range: the kernel's choice is as good.
MIN_CANDIDATES = 1000
# Long enough for a slow first start to bind (Phoenix may take up to 180 s to migrate).
RESERVATION_SECONDS = 600.0
ATTEMPTS = 200


class _Reservations:
    """The lock files this process holds, released when they expire or the process ends."""

    def __init__(self) -> None:
        self.held: dict[int, tuple[IO[bytes], float]] = {}

    def expire(self, now: float) -> None:
        for port, (handle, taken) in list(self.held.items()):
            if now - taken > RESERVATION_SECONDS:
                handle.close()  # closing drops the lock
                del self.held[port]

    def take(self, port: int, directory: Path) -> bool:
        try:
            handle = open(directory / f"{port}.lock", "ab")
        except OSError:  # another user's lock file: theirs
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.held[port] = (handle, time.monotonic())
        return True

    def release(self, port: int) -> None:
        handle, _ = self.held.pop(port)
        handle.close()


_RESERVATIONS = _Reservations()


def lock_directory() -> Path:
    directory = Path(tempfile.gettempdir()) / "claude-session-ports"
    with contextlib.suppress(OSError):
        directory.mkdir(mode=0o1777, exist_ok=True)
        if directory.stat().st_uid == os.getuid():
            directory.chmod(0o1777)  # sticky and shared: every user of the machine reserves here
    return directory


def ephemeral_range(source: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int] | None:
    try:
        low, high = (int(field) for field in source.read_text().split())
    except (OSError, ValueError):
        return None
    return low, high


def candidates(ephemeral: tuple[int, int] | None) -> list[int]:
    """Listening ports the kernel never hands to an outgoing connection."""
    if ephemeral is None:
        return []
    low, high = ephemeral
    return [port for port in range(LOWEST_PORT, HIGHEST_PORT + 1) if not low <= port <= high]


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port() -> int:
    """A port nobody listens on, outside the ephemeral range, reserved for this process."""
    pool = candidates(ephemeral_range())
    return choose_port(pool if len(pool) >= MIN_CANDIDATES else [], lock_directory())


def choose_port(pool: list[int], directory: Path) -> int:
    """A bindable port from `pool` that no other chooser holds (the kernel's when none is)."""
    _RESERVATIONS.expire(time.monotonic())
    for port in random.sample(pool, k=min(ATTEMPTS, len(pool))):
        if not _RESERVATIONS.take(port, directory):
            continue
        if bindable(port):
            return port
        _RESERVATIONS.release(port)
    for _ in range(ATTEMPTS):  # the kernel's choice, reserved all the same
        port = kernel_port()
        if _RESERVATIONS.take(port, directory):
            return port
    raise OSError("no free 127.0.0.1 port found")
