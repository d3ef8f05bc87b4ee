"""The last few reports' intervals, kept beside the cache file.

The bootstrap (report/stats.py) is a pure function of its inputs: the same groups, sessions,
per-session values, outcomes and baseline give the same intervals, bit for bit. A report whose
inputs hash to one seen before reads those intervals back instead of resampling (about 0.3 s of a
one-second warm report). The hash covers the inputs and the statistics code itself (stats.py's
bytes), so another version of it never reads a stale answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_session.report import stats
from claude_session.report.stats import Analysis, GroupSample

KEEP = 8  # analyses remembered per cache file (a few report shapes: by version, by type, ...)
SUFFIX = ".analyses.json"


def memo_file(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + SUFFIX)


def inputs_key(samples: Mapping[str, GroupSample], baseline: str | None, passed: Mapping[str, bool]) -> str:
    digest = hashlib.sha256(Path(stats.__file__).read_bytes())
    digest.update(json.dumps([baseline, sorted(passed.items())]).encode())
    for label, sample in samples.items():  # in order: the differences follow it
        digest.update(b"\0group\0" + label.encode())
        digest.update("\0".join("\1" if s is None else s for s in sample.sessions).encode())
        for metric in sorted(sample.values):
            digest.update(b"\0" + metric.encode() + b"\0" + sample.values[metric].tobytes())
    return digest.hexdigest()


def recall(path: Path, key: str) -> tuple[Analysis, list[str]] | None:
    """The analysis and warnings stored under `key`; None when absent or unreadable."""
    try:
        found = json.loads(path.read_text()).get(key)
        return Analysis.from_dict(found["analysis"]), [str(w) for w in found["warnings"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remember(path: Path, key: str, analysis: Analysis, warnings: list[str]) -> None:
    """Store under `key` (the newest KEEP stay), owner-only, replacing the file whole."""
    entries: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text())
        entries = loaded if isinstance(loaded, dict) else {}
    entries.pop(key, None)
    entries[key] = {"analysis": analysis.to_dict(), "warnings": warnings}
    kept = dict(list(entries.items())[-KEEP:])
    temporary = path.with_name(path.name + ".tmp")
    with contextlib.suppress(OSError):
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(kept, out)
        os.replace(temporary, path)
