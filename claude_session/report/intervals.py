"""Attach the intervals and verdicts (report/stats.py) to a report, and warn where they cannot tell."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Mapping

from claude_session.report.model import Report
from claude_session.report.stats import METRICS, GroupSample, analyse


def attach(
    report: Report, samples: Mapping[str, GroupSample], outcomes: Mapping[str, bool] | None = None
) -> float:
    """Set `report.analysis` (against `report.baseline`, if any); return the seconds it took.

    `outcomes`: per session id, whether the session succeeded (gives the success rate).
    """
    if importlib.util.find_spec("numpy") is None:  # installed with Phoenix (requirements/phoenix.txt)
        report.warnings.append("no intervals or verdicts: numpy is not installed")
        return 0.0
    began = time.perf_counter()
    report.analysis = analysis = analyse(samples, report.baseline, outcomes)
    undecided: dict[str, list[str]] = {}
    for d in analysis.differences:
        if d.verdict == "too_few":
            undecided.setdefault(d.group, []).append(METRICS[d.metric].label)
    for group, labels in undecided.items():
        report.warnings.append(
            f"{group} vs {report.baseline}: not enough sessions to tell {', '.join(labels)} apart "
            f"(fewer than 2 sessions, or a {analysis.level * 100:.0f}% interval wider than "
            f"±{analysis.wide * 100:.0f}% that includes no change); run more sessions"
        )
    return time.perf_counter() - began
