"""`build_report(query, client, project) -> Report`: the whole report as one pipeline.

Fetch the selected spans from Phoenix, aggregate them per group, read the groups' outcomes
(ratings and checks), compute intervals and verdicts, cut to `limit`, and cross-check the cost
with Phoenix's own figure. Each step is a function of the previous step's result; only the
fetching steps talk to Phoenix. The result is a finished, frozen `Report`: the command line
prints it, a program (the experiment report, a notebook) reads it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claude_session.phoenix.annotations import Outcome, fetch_outcomes
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.report import attribution, intervals
from claude_session.report.cache.cached import cached_aggregation
from claude_session.report.cache.memo import Memo, analysis_key, memo_for, recall_analysis, remember_analysis
from claude_session.report.cache.store import cache_file
from claude_session.report.cache.sync import identity
from claude_session.report.errors import ReportError
from claude_session.report.fetch import (
    DEFAULT_PAGE,
    GROUP_BY,
    Aggregation,
    Selection,
    aggregate,
    fetch_pages,
    phoenix_costs,
    phoenix_session_cost,
)
from claude_session.report.model import GroupStats, Report, compare, totals
from claude_session.report.outcomes import summarize
from claude_session.report.samples import SessionCollector
from claude_session.report.stats import Analysis, GroupSample
from claude_session.report.timewindow import iso
from claude_session.report.units import usd

PER_GROUP_CHECKS = 12  # groups whose cost is compared with Phoenix's one by one, at most
# Up to this many sessions, Phoenix's figure is the sum of each session's own cost (its Sessions
# tab); beyond, Phoenix's cost of the report's spans in one query.
SESSIONS_CHECKED_ONE_BY_ONE = 250


@dataclass(frozen=True)
class ReportQuery:
    """What to report: which spans, grouped how, compared with what."""

    selection: Selection = field(default_factory=Selection)
    group_by: str = "prompt_version"  # a key of GROUP_BY
    baseline: str | None = None  # a group's label to compare every other group with
    min_sessions: int | None = None  # deprecated: warn when a group has fewer sessions
    limit: int | None = None  # at most this many groups (a session list: the most recent)
    phoenix_check: bool = True  # compare the cost with Phoenix's own figure
    page_size: int = DEFAULT_PAGE
    cache: bool = True  # aggregate in the local cache (report/cache); False: read every span from Phoenix

    def __post_init__(self) -> None:
        if self.group_by not in GROUP_BY:
            raise ReportError(f"unknown group key {self.group_by!r} (choose from {', '.join(GROUP_BY)})")

    @property
    def per_session_statistics(self) -> bool:
        """Outcomes and intervals compare groups of sessions; a session list has none."""
        return self.group_by != "session"


def build_report(
    query: ReportQuery,
    client: PhoenixClient,
    project: str,
    cache_dir: Path | None = None,
    notify: Callable[[str], None] | None = None,
) -> Report:
    """The finished report; one with no groups when no span matched. ReportError or PhoenixError
    (one line each) when Phoenix has no such project, the baseline names no group, or Phoenix fails.

    With `query.cache` (the default) and a `cache_dir` (the command line passes the state
    directory's report-cache/; only the edges read the environment) the spans are aggregated in
    the local cache there; `notify` gets its one-line notices (a rebuild and why, a cold fill's
    progress)."""
    started = time.perf_counter()
    if query.cache and cache_dir is not None:
        ident = identity(client, project)
        project_id = ident.project_id if ident else None
    else:
        ident, project_id = None, client.project_id(project)
    if project_id is None:
        raise ReportError(
            f"Phoenix at {client.base_url} has no project {project!r}: no spans were sent to it yet"
        )
    stored = None
    if ident is not None and cache_dir is not None:
        stored = cached_aggregation(
            client,
            project,
            ident,
            query.selection,
            query.group_by,
            query.per_session_statistics,
            cache_dir,
            notify or (lambda line: None),
        )
    if stored is not None:
        result, samples = stored.aggregation, stored.samples
    else:
        collector = SessionCollector() if query.per_session_statistics else None
        pages = fetch_pages(client, project, project_id, query.selection, query.page_size)
        result = aggregate(pages, query.selection, query.group_by, collector)
        samples = collector.samples() if collector is not None else {}
    report = empty_report(query, client.base_url, project)
    if not result.groups:
        return report
    groups = result.groups
    # The samples in the groups' order, not the order rows arrived in: the comparisons list follows it.
    samples = {g.label: samples[g.label] for g in groups if g.label in samples}
    warnings = attribution.warnings(groups)
    comparisons = []
    if query.baseline:
        warnings += baseline_warnings(groups, query)  # refuses a baseline that names no group
        comparisons = compare(groups, query.baseline)
    if stored is not None and stored.outcomes is not None:
        found, outcome_warnings = stored.outcomes, list[str]()
    else:
        found, outcome_warnings = _read_outcomes(client, project, samples)
    groups = with_outcomes(groups, samples, found)
    memo = memo_for(cache_file(cache_dir, client.base_url, project)) if stored and cache_dir else None
    analysis, stats_s, stats_warnings = _analyse(query, samples, found, memo)
    shown, limit_warnings = apply_limit(groups, query)
    report = dataclasses.replace(
        report,
        groups=shown,
        baseline=query.baseline,
        comparisons=comparisons,
        warnings=warnings + outcome_warnings + stats_warnings + limit_warnings,
        analysis=analysis,
        **totals(groups),
    )
    checked = 0.0
    if query.phoenix_check:
        report, checked = cross_check_cost(client, project_id, report, result.session_ids)
    return dataclasses.replace(report, timing=_timing(result, stats_s, checked, started))


def empty_report(query: ReportQuery, phoenix_url: str, project: str) -> Report:
    """The report's frame: what was asked, no groups yet."""
    selection = query.selection
    return Report(
        project=project,
        phoenix_url=phoenix_url,
        group_by=query.group_by,
        filters=dict(selection.values),
        window_start=iso(selection.start) if selection.start else None,
        window_end=iso(selection.end) if selection.end else None,
        span_filter=selection.span_filter(),
        groups=[],
    )


def baseline_warnings(groups: Sequence[GroupStats], query: ReportQuery) -> list[str]:
    """Refuses a baseline that names no group; warns about groups under --min-sessions."""
    labels = [g.label for g in groups]
    if query.baseline not in labels:
        raise ReportError(
            f"--baseline {query.baseline}: no {GROUP_BY[query.group_by]} of that name among "
            f"{', '.join(labels[:10])}{', ...' if len(labels) > 10 else ''}",
            exit_code=2,
        )
    if query.min_sessions is None:
        return []
    return [
        f"{g.label} has {g.sessions} session{'s' if g.sessions != 1 else ''} "
        f"(fewer than {query.min_sessions}): too few to tell a real change from noise"
        for g in groups
        if g.sessions < query.min_sessions
    ]


def _read_outcomes(
    client: PhoenixClient, project: str, samples: Mapping[str, GroupSample]
) -> tuple[dict[str, Outcome], list[str]]:
    """Ratings and checks of the groups' sessions, from Phoenix's session annotations."""
    if not samples:
        return {}, []
    ids = [sid for sample in samples.values() for sid in sample.sessions if sid is not None]
    try:
        return fetch_outcomes(client, project, ids), []
    except PhoenixError as err:
        return {}, [f"ratings and checks not read: {err}"]


def with_outcomes(
    groups: Sequence[GroupStats], samples: Mapping[str, GroupSample], found: Mapping[str, Outcome]
) -> list[GroupStats]:
    """Each group with its ratings, checks, success rate and cost per success."""
    if not found and not samples:
        return list(groups)
    out = []
    for group in groups:
        sample = samples.get(group.label)
        if sample is None:
            out.append(group)
            continue
        costs = {sid: float(c) for sid, c in zip(sample.sessions, sample.values["cost"], strict=True) if sid}
        summary = summarize(costs, found, costs)
        out.append(
            dataclasses.replace(
                group,
                rated_sessions=summary.rated,
                mean_score=summary.mean_score,
                checked_sessions=summary.checked,
                passed_sessions=summary.passed,
                success_rate=summary.success_rate,
                cost_per_success=summary.cost_per_success,
            )
        )
    return out


def _analyse(
    query: ReportQuery, samples: Mapping[str, GroupSample], found: Mapping[str, Outcome], memo: Memo | None
) -> tuple[Analysis | None, float, list[str]]:
    """The intervals; with `memo` (the cache's, report/cache/memo.py) read back when the inputs are
    the same as a recent report's."""
    if not query.per_session_statistics:
        return None, 0.0, []
    began = time.perf_counter()
    passed = {sid: o.check_passed for sid, o in found.items() if o.check_passed is not None}
    key = analysis_key(samples, query.baseline, passed) if memo is not None else ""
    recalled = recall_analysis(memo, key) if memo is not None else None
    if recalled is not None:
        analysis, warnings = recalled
        return analysis, time.perf_counter() - began, warnings
    result, warnings = intervals.analysis(samples, query.baseline, passed)
    if memo is not None and result is not None:
        remember_analysis(memo, key, result, warnings)
    return result, time.perf_counter() - began, warnings


def apply_limit(groups: Sequence[GroupStats], query: ReportQuery) -> tuple[list[GroupStats], list[str]]:
    """The first `limit` groups; a warning when some are left out (a session list says it itself)."""
    limit = query.limit
    if not limit or len(groups) <= limit:
        return list(groups), []
    warnings = [] if query.group_by == "session" else [f"showing {limit} of {len(groups):,} groups (--limit)"]
    return list(groups[:limit]), warnings


def cross_check_cost(
    client: PhoenixClient, project_id: str, report: Report, session_ids: set[str]
) -> tuple[Report, float]:
    """The report with Phoenix's own cost beside LiteLLM's, and the groups that differ flagged.

    Phoenix's figure is what a user reads in its Sessions tab: the sum of the report's
    sessions' own cost. Per group (Phoenix's cost of the group's spans) only when that total
    differs, since each per-group aggregate makes Phoenix read every span's attributes again.
    """
    began = time.perf_counter()
    if len(session_ids) <= SESSIONS_CHECKED_ONE_BY_ONE:
        total = phoenix_session_cost(client, session_ids)
    else:  # one aggregate instead of a query per 50 sessions: the same spans, the same prices
        total = phoenix_costs(client, project_id, {"all": report.span_filter})["all"]
    report = dataclasses.replace(report, phoenix_cost_usd=total)
    if not report.cost_differs():
        return report, time.perf_counter() - began
    checked = report.groups[:PER_GROUP_CHECKS]
    costs = phoenix_costs(client, project_id, {g.label: g.span_filter for g in checked})
    groups, warnings = [], list(report.warnings)
    for group in report.groups:
        if group.label in costs:
            group = dataclasses.replace(group, phoenix_cost_usd=costs[group.label])
        if group.cost_mismatch:
            models = ", ".join(group.models) or "no model name"
            warnings.append(
                f"{group.label}: Phoenix's own cost is {usd(group.phoenix_cost_usd)}, "
                f"LiteLLM's {usd(group.cost_usd)} ({models}); Phoenix lacks or differs "
                "in a model price (spans priced before the price was registered stay at $0)"
            )
        groups.append(group)
    return dataclasses.replace(report, groups=groups, warnings=warnings), time.perf_counter() - began


def _timing(result: Aggregation, stats_s: float, checked: float, started: float) -> dict[str, float]:
    return {
        "fetch_s": round(result.fetch_s, 4),
        "aggregate_s": round(result.aggregate_s, 4),
        "stats_s": round(stats_s, 4),
        "phoenix_cost_s": round(checked, 4),
        "total_s": round(time.perf_counter() - started, 4),
        "spans": result.spans,
        "fetched": result.spans if result.fetched is None else result.fetched,  # from Phoenix, this report
        "pages": result.pages,
    }
