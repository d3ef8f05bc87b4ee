"""The intervals and verdicts (report/stats.py) of a report's groups, and warnings where they cannot tell."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

from claude_session.report.stats import METRICS, Analysis, GroupSample, analyse


def analysis(
    samples: Mapping[str, GroupSample], baseline: str | None, outcomes: Mapping[str, bool] | None = None
) -> tuple[Analysis | None, list[str]]:
    """The groups' intervals (against `baseline`, if any) and the warnings to print with them.

    `outcomes`: per session id, whether the session succeeded (gives the success rate).
    """
    if importlib.util.find_spec("numpy") is None:  # installed with Phoenix (requirements/phoenix.txt)
        return None, ["no intervals or verdicts: numpy is not installed"]
    result = analyse(samples, baseline, outcomes)
    undecided: dict[str, list[str]] = {}
    for d in result.differences:
        if d.verdict == "too_few":
            undecided.setdefault(d.group, []).append(METRICS[d.metric].label)
    warnings = [
        f"{group} vs {baseline}: not enough sessions to tell {', '.join(labels)} apart "
        f"(fewer than 2 sessions, or a {result.level * 100:.0f}% interval wider than "
        f"±{result.wide * 100:.0f}% that includes no change); run more sessions"
        for group, labels in undecided.items()
    ]
    return result, warnings
