"""The span spool's files on disk: names, order, totals (no OpenTelemetry import: the CLI reads it).

One file per failed export batch, its OTLP protobuf encoding, named
`<time ns>-<pid>-<seq>-<spans>.otlp`: names sort oldest first across the proxy's workers,
and each carries its span count, so a dropped file's spans are counted without reading it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^(\d{20})-(\d+)-(\d+)-(\d+)\.otlp$")


@dataclass(frozen=True)
class SpoolFile:
    path: Path
    spans: int
    size: int


@dataclass(frozen=True)
class SpoolSummary:
    files: int
    spans: int
    size: int


def file_name(pid: int, seq: int, spans: int) -> str:
    return f"{time.time_ns():020d}-{pid}-{seq:06d}-{spans}.otlp"


def spool_files(directory: Path) -> list[SpoolFile]:
    """The spooled batches, oldest first; a file removed meanwhile is left out."""
    found = []
    try:
        names = sorted(entry.name for entry in directory.iterdir())
    except FileNotFoundError:
        return []
    for name in names:
        match = _NAME.match(name)
        if match is None:
            continue
        path = directory / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        found.append(SpoolFile(path, int(match.group(4)), size))
    return found


def summary(directory: Path) -> SpoolSummary:
    files = spool_files(directory)
    return SpoolSummary(len(files), sum(f.spans for f in files), sum(f.size for f in files))


def describe(directory: Path) -> str:
    """One line for `status` and `doctor`: how many spans wait for Phoenix, and where."""
    waiting = summary(directory)
    if not waiting.files:
        return f"no span waiting ({directory})"
    return (
        f"{waiting.spans} spans waiting for Phoenix in {waiting.files} files"
        f" ({waiting.size / 2**20:.1f} MB, {directory})"
    )
