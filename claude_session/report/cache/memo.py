"""Recent reports' results, kept beside the cache file and read back when their inputs recur.

Two results are pure functions of inputs the cache can name exactly:
- the SQL aggregation (aggregate.py) of the cached spans: of the spans table's generation (a
  number the store raises whenever a sync writes to it), the selection and the grouping;
- the bootstrap (report/stats.py): of the groups, sessions, per-session values, outcomes and
  baseline, bit for bit.
A warm report with nothing new reads both back instead of computing them (about 0.5 s of a
one-second report). Each key also hashes the code that computes the result (its modules' bytes),
so another version of it never reads a stale answer. One JSON file per key in a 0700 directory,
0600 files, the newest KEEP kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_session.report import model, stats
from claude_session.report.cache import aggregate, columns
from claude_session.report.cache.aggregate import StoreAggregation
from claude_session.report.cache.store import MEMO_SUFFIX
from claude_session.report.fetch import Aggregation, Selection
from claude_session.report.stats import Analysis, GroupSample

KEEP = 16  # results remembered per cache file (a few report shapes, each with and without a baseline)


class Memo:
    """Results by key in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, key: str) -> Any:
        """The value stored under `key`; None when absent or unreadable."""
        try:
            return json.loads((self.directory / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: Any) -> None:
        """Store `value` under `key` (owner-only), keeping the newest KEEP."""
        with contextlib.suppress(OSError):
            self.directory.mkdir(mode=0o700, exist_ok=True)
            temporary = self.directory / f"{key}.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(json.dumps(value))  # json.dump would encode in Python, piece by piece: 5x slower
            os.replace(temporary, self.directory / f"{key}.json")
            stored = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for stale in stored[KEEP:]:
                stale.unlink(missing_ok=True)


def memo_for(cache_path: Path) -> Memo:
    return Memo(cache_path.with_name(cache_path.name + MEMO_SUFFIX))


def _code(*modules: Any) -> hashlib._Hash:
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest


# --------------------------------------------------------------------------- the bootstrap


def analysis_key(samples: Mapping[str, GroupSample], baseline: str | None, passed: Mapping[str, bool]) -> str:
    digest = _code(stats)
    digest.update(json.dumps(["analysis", baseline, sorted(passed.items())]).encode())
    for label, sample in samples.items():  # in order: the differences follow it
        digest.update(b"\0group\0" + label.encode())
        digest.update("\0".join("\1" if s is None else s for s in sample.sessions).encode())
        for metric in sorted(sample.values):
            digest.update(b"\0" + metric.encode() + b"\0" + sample.values[metric].tobytes())
    return "analysis-" + digest.hexdigest()


def recall_analysis(memo: Memo, key: str) -> tuple[Analysis, list[str]] | None:
    found = memo.get(key)
    try:
        return Analysis.from_dict(found["analysis"]), [str(w) for w in found["warnings"]]
    except (KeyError, TypeError, AttributeError):
        return None


def remember_analysis(memo: Memo, key: str, analysis: Analysis, warnings: list[str]) -> None:
    memo.put(key, {"analysis": analysis.to_dict(), "warnings": warnings})


# --------------------------------------------------------------------------- the aggregation


def aggregation_key(generation: str, selection: Selection, group_by: str, samples: bool) -> str:
    digest = _code(aggregate, columns, model)
    window = [None if t is None else t.isoformat() for t in (selection.start, selection.end)]
    digest.update(json.dumps(["aggregation", generation, sorted(selection.values.items()), window]).encode())
    digest.update(json.dumps([group_by, samples]).encode())
    return "aggregation-" + digest.hexdigest()


def recall_aggregation(memo: Memo, key: str) -> StoreAggregation | None:
    import numpy as np

    found = memo.get(key)
    try:
        found_aggregation = found["aggregation"]
        groups = [model.GroupStats(**g) for g in found_aggregation.pop("groups")]
        session_ids = set(found_aggregation.pop("session_ids"))
        aggregation = Aggregation(groups=groups, session_ids=session_ids, **found_aggregation)
        samples = {
            label: GroupSample(
                sample["sessions"], {m: np.array(v, dtype=np.float64) for m, v in sample["values"].items()}
            )
            for label, sample in found["samples"].items()
        }
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    return StoreAggregation(aggregation, samples)


def remember_aggregation(memo: Memo, key: str, result: StoreAggregation) -> None:
    aggregation = result.aggregation
    memo.put(
        key,
        {
            "aggregation": {
                "groups": [dataclasses.asdict(g) for g in aggregation.groups],
                "spans": aggregation.spans,
                "pages": aggregation.pages,
                "fetch_s": aggregation.fetch_s,
                "aggregate_s": aggregation.aggregate_s,
                "session_ids": sorted(aggregation.session_ids),
            },
            "samples": {
                label: {
                    "sessions": sample.sessions,
                    "values": {m: v.tolist() for m, v in sample.values.items()},
                }
                for label, sample in result.samples.items()
            },
        },
    )
