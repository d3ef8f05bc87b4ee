"""Free ports for private stacks: outside the kernel's ephemeral range, and reserved so that
two choosers (the suite's two processes) never get the same one."""

from __future__ import annotations

import fcntl
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_session.stack import ports


@pytest.fixture
def two_ports() -> Iterator[list[int]]:
    """Two ports outside this machine's ephemeral range that nobody listens on now."""
    pool = ports.candidates(ports.ephemeral_range()) or list(range(20000, 30000))
    chosen = [port for port in pool[::997] if ports.bindable(port)][:2]
    assert len(chosen) == 2
    yield chosen
    for port in chosen:
        if port in ports._RESERVATIONS.held:
            ports._RESERVATIONS.release(port)


def test_candidates_leave_out_the_ephemeral_range_and_low_ports() -> None:
    pool = ports.candidates((32768, 60999))
    assert min(pool) == ports.LOWEST_PORT
    assert max(pool) == ports.HIGHEST_PORT
    assert 32767 in pool and 61000 in pool
    assert not [port for port in pool if 32768 <= port <= 60999]
    assert ports.candidates(None) == []


def test_the_ephemeral_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    source = tmp_path / "range"
    source.write_text("32768\t60999\n")
    assert ports.ephemeral_range(source) == (32768, 60999)
    source.write_text("nonsense\n")
    assert ports.ephemeral_range(source) is None
    assert ports.ephemeral_range(tmp_path / "missing") is None


def test_free_port_is_outside_this_machines_ephemeral_range() -> None:
    ephemeral = ports.ephemeral_range()
    if ephemeral is None or len(ports.candidates(ephemeral)) < ports.MIN_CANDIDATES:
        pytest.skip("this kernel leaves no room outside its ephemeral range")
    low, high = ephemeral
    chosen = [ports.free_port() for _ in range(20)]
    assert not [port for port in chosen if low <= port <= high]
    assert len(set(chosen)) == 20  # each is reserved until it expires
    for port in chosen:
        ports._RESERVATIONS.release(port)


def test_a_port_another_chooser_holds_is_skipped(two_ports: list[int], tmp_path: Path) -> None:
    held, other = two_ports
    with open(tmp_path / f"{held}.lock", "ab") as theirs:
        fcntl.flock(theirs, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for _ in range(10):  # whatever order the pool is tried in
            port = ports.choose_port([held, other], tmp_path)
            assert port == other
            ports._RESERVATIONS.release(port)


def test_a_port_somebody_listens_on_is_skipped(two_ports: list[int], tmp_path: Path) -> None:
    busy, other = two_ports
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", busy))
        listener.listen()
        for _ in range(10):
            port = ports.choose_port([busy, other], tmp_path)
            assert port == other
            ports._RESERVATIONS.release(port)
    assert busy not in ports._RESERVATIONS.held  # its lock was given back


def test_a_reserved_port_is_not_chosen_again_until_it_expires(
    two_ports: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ports.choose_port(two_ports, tmp_path)
    second = ports.choose_port(two_ports, tmp_path)
    assert {first, second} == set(two_ports)
    third = ports.choose_port(two_ports, tmp_path)  # pool exhausted: the kernel's choice
    assert third not in two_ports
    ports._RESERVATIONS.release(third)
    monkeypatch.setattr(ports, "RESERVATION_SECONDS", -1.0)
    again = ports.choose_port(two_ports, tmp_path)  # both expired on this call
    assert again in two_ports
