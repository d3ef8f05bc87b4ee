"""What a report holds: per-group statistics, comparisons against a baseline, and its JSON form.

Token names follow Anthropic's usage fields: `input` is the uncached input
(`llm.token_count.prompt` minus cache reads and writes, which LiteLLM counts in the prompt),
`cache_read` and `cache_write` the cached parts, `output` the completion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from claude_session.report.attribution import MAIN, REST, SUBAGENT_PREFIX
from claude_session.report.stats import Analysis
from claude_session.report.timewindow import parse_iso

COST_SOURCE = (
    "LiteLLM's cache-aware cost carried on each span (llm.cost.total); "
    "Phoenix prices spans itself from its own model table"
)

# Relative changes against the baseline, in the order they are printed.
COMPARED: dict[str, str] = {
    "tokens_per_session": "tokens per session",
    "cost_per_session": "cost per session",
    "cost_per_request": "cost per request",
    "requests_per_session": "requests per session",
    "latency_p50_ms": "p50 latency",
    "latency_p95_ms": "p95 latency",
}


def differs(phoenix: float | None, litellm: float) -> bool:
    """Phoenix's cost differs from LiteLLM's by more than half a percent (or a micro-dollar)."""
    if phoenix is None:
        return False
    return abs(phoenix - litellm) > max(0.005 * abs(litellm), 1e-6)


@dataclass(frozen=True)
class GroupStats:
    """One group of LLM spans (a prompt version, a type, a name or one session)."""

    key: str | None  # None: spans without that attribute
    sessions: int
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None  # time to first token, when the spans carry it
    start: str | None  # ISO 8601 UTC: first span start, last span end
    end: str | None
    span_filter: str  # Phoenix Spans tab expression selecting exactly these spans
    root_filter: str  # Phoenix Traces / Sessions tab expression
    models: list[str] = field(default_factory=list)
    phoenix_cost_usd: float | None = None  # Phoenix's own figure for the same spans, when checked
    # Set when grouping by session: the session's own fields.
    session_type: str | None = None
    prompt_version: str | None = None
    session_name: str | None = None
    # Attribution (report/attribution.py): cost per bucket (main, subagent:<type>, rest), summing to
    # cost_usd; distinct prompt ids (user turns) of the sessions that carry them, the number of
    # sessions without any (turns unknown), and the cost of the sessions whose turns are known.
    cost_breakdown: dict[str, float] = field(default_factory=dict)
    turns: int = 0
    turns_unknown_sessions: int = 0
    turn_cost_usd: float = 0.0
    # Outcomes (report/outcomes.py, from Phoenix's session annotations): ratings and `--check`s.
    rated_sessions: int = 0
    mean_score: float | None = None
    checked_sessions: int = 0
    passed_sessions: int = 0
    success_rate: float | None = None
    cost_per_success: float | None = None

    @property
    def label(self) -> str:
        return "(none)" if self.key is None else self.key

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def per_session(self, value: float) -> float | None:
        return value / self.sessions if self.sessions else None

    @property
    def tokens_per_session(self) -> float | None:
        return self.per_session(self.total_tokens)

    @property
    def cost_per_session(self) -> float | None:
        return self.per_session(self.cost_usd)

    @property
    def cost_per_request(self) -> float | None:
        return self.cost_usd / self.requests if self.requests else None

    @property
    def requests_per_session(self) -> float | None:
        return self.per_session(self.requests)

    @property
    def turn_sessions(self) -> int:
        """Sessions whose turns are known (their spans carry prompt ids)."""
        return self.sessions - self.turns_unknown_sessions

    @property
    def turns_per_session(self) -> float | None:
        return self.turns / self.turn_sessions if self.turn_sessions and self.turns else None

    @property
    def cost_per_turn(self) -> float | None:
        return self.turn_cost_usd / self.turns if self.turns else None

    @property
    def subagent_cost_usd(self) -> float:
        """All sub-agent types together."""
        return math.fsum(v for k, v in self.cost_breakdown.items() if k.startswith(SUBAGENT_PREFIX))

    @property
    def duration_s(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (parse_iso(self.end) - parse_iso(self.start)).total_seconds()

    @property
    def cost_mismatch(self) -> bool:
        """Phoenix's own cost differs from LiteLLM's by more than half a percent (or a micro-dollar)."""
        return differs(self.phoenix_cost_usd, self.cost_usd)

    def derived(self) -> dict[str, Any]:
        """Means and totals computed from the stored sums (in JSON and CSV, never read back)."""
        return {
            "total_tokens": self.total_tokens,
            "input_tokens_per_session": self.per_session(self.input_tokens),
            "output_tokens_per_session": self.per_session(self.output_tokens),
            "cache_read_tokens_per_session": self.per_session(self.cache_read_tokens),
            "cache_write_tokens_per_session": self.per_session(self.cache_write_tokens),
            "tokens_per_session": self.tokens_per_session,
            "cost_per_session": self.cost_per_session,
            "cost_per_request": self.cost_per_request,
            "requests_per_session": self.requests_per_session,
            "duration_s": self.duration_s,
            "cost_mismatch": self.cost_mismatch,
            "turns_per_session": self.turns_per_session,
            "cost_per_turn": self.cost_per_turn,
            "cost_main_usd": self.cost_breakdown.get(MAIN, 0.0),
            "cost_subagent_usd": self.subagent_cost_usd,
            "cost_rest_usd": self.cost_breakdown.get(REST, 0.0),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), **self.derived()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupStats:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Comparison:
    """Relative change of a group against the baseline group: 0.25 is +25%."""

    group: str
    baseline: str
    changes: dict[str, float | None]

    def summary(self) -> str:
        parts = [
            f"{percent(self.changes.get(metric))} {label}"
            for metric, label in COMPARED.items()
            if metric in ("tokens_per_session", "cost_per_session", "latency_p50_ms")
        ]
        return f"{self.group} vs {self.baseline}: " + ", ".join(parts)


def percent(change: float | None) -> str:
    if change is None:
        return "n/a"
    return f"{change * 100:+.0f}%"


def compare(groups: list[GroupStats], baseline: str) -> list[Comparison]:
    base = next(g for g in groups if g.label == baseline)
    comparisons = []
    for group in groups:
        if group is base:
            continue
        changes: dict[str, float | None] = {}
        for metric in COMPARED:
            ours, theirs = getattr(group, metric), getattr(base, metric)
            changes[metric] = None if ours is None or not theirs else ours / theirs - 1.0
        comparisons.append(Comparison(group.label, base.label, changes))
    return comparisons


@dataclass(frozen=True)
class Report:
    project: str
    phoenix_url: str
    group_by: str
    filters: dict[str, str]  # type / version / name / session given on the command line
    window_start: str | None
    window_end: str | None
    span_filter: str  # the Spans tab expression for the whole selection
    groups: list[GroupStats]
    baseline: str | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    cost_source: str = COST_SOURCE
    phoenix_cost_usd: float | None = None  # Phoenix's own total for the same spans, when checked
    # Over every group, before --limit cut the list (`totals`):
    total_groups: int = 0
    requests: int = 0
    sessions: int = 0
    cost_usd: float = 0.0  # LiteLLM's
    start: str | None = None
    end: str | None = None
    # Intervals and verdicts over sessions (report/stats.py), when computed:
    analysis: Analysis | None = None

    def cost_differs(self) -> bool:
        return differs(self.phoenix_cost_usd, self.cost_usd)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["groups"] = [g.to_dict() for g in self.groups]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["groups"] = [GroupStats.from_dict(g) for g in data["groups"]]
        values["comparisons"] = [Comparison(**c) for c in data.get("comparisons", [])]
        if data.get("analysis"):
            values["analysis"] = Analysis.from_dict(data["analysis"])
        return cls(**values)


def totals(groups: list[GroupStats]) -> dict[str, Any]:
    """The report's totals over `groups` (all of them, before --limit shortens the list)."""
    return {
        "total_groups": len(groups),
        "requests": sum(g.requests for g in groups),
        "sessions": sum(g.sessions for g in groups),
        "cost_usd": sum(g.cost_usd for g in groups),
        "start": min((g.start for g in groups if g.start), default=None),
        "end": max((g.end for g in groups if g.end), default=None),
    }
