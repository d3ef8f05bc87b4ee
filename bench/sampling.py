"""CPU and RSS of a process tree (psutil, the root and every child: each proxy worker)."""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType

import psutil

RSS_INTERVAL_S = 0.2


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its living descendants."""
    total = 0.0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its descendants, in MiB."""
    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def cpu_busy(pid: int, interval: float = 1.0, threshold_s: float = 0.15) -> bool:
    """Whether the tree used more than `threshold_s` CPU seconds over `interval` seconds."""
    before = tree_cpu_seconds(pid)
    time.sleep(interval)
    return tree_cpu_seconds(pid) - before > threshold_s


class RssSampler:
    """Peak RSS of process trees (summed), sampled every 0.2 s in a thread (`with RssSampler(pid) as rss`)."""

    def __init__(self, *pids: int | None) -> None:
        self.pids = [pid for pid in pids if pid is not None]
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.pids:
                self.peak = max(self.peak, sum(tree_rss_mb(pid) for pid in self.pids))
            self._stop.wait(RSS_INTERVAL_S)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
