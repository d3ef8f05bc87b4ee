"""An experiment's report as data: `build_experiment_report(records, tasks, variants, baseline,
budget_reached)` is pure (same records, same report, bytes included) and returns an immutable
ExperimentReport that the renderers (render.py, plot.py) and programs read, and that
round-trips through JSON (`to_dict` / `from_dict`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from claude_session.experiment import stats
from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.records import RunRecord, TaskInfo
from claude_session.experiment.summary import Figures, figures, task_runs


@dataclass(frozen=True)
class TaskFigures:
    task: str
    figures: Figures


@dataclass(frozen=True)
class VariantSummary:
    name: str
    overall: Figures
    tasks: tuple[TaskFigures, ...]


@dataclass(frozen=True)
class ExperimentReport:
    experiment: str
    baseline: str
    variants: tuple[str, ...]
    tasks: tuple[str, ...]
    k: int  # the repetitions: the k of pass@k and pass^k
    budget_reached: bool
    records: int  # runs read (every status)
    infra_excluded: int  # of those, left out as infrastructure failures
    ignored: int  # runs of a task or variant not in the experiment, left out
    spend_usd: float  # cost of every run read, infrastructure failures included
    level: float
    alpha: float
    seed: int
    resamples: int
    success_margin: float
    cost_margin: float
    summaries: tuple[VariantSummary, ...]
    comparisons: tuple[stats.Comparison, ...]

    def summary(self, variant: str) -> VariantSummary:
        return next(s for s in self.summaries if s.name == variant)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentReport:
        summaries = tuple(
            VariantSummary(
                s["name"],
                Figures(**s["overall"]),
                tuple(TaskFigures(t["task"], Figures(**t["figures"])) for t in s["tasks"]),
            )
            for s in data["summaries"]
        )
        plain = {k: v for k, v in data.items() if k not in ("summaries", "comparisons", "variants", "tasks")}
        return cls(
            **plain,
            variants=tuple(data["variants"]),
            tasks=tuple(data["tasks"]),
            summaries=summaries,
            comparisons=tuple(stats.Comparison(**c) for c in data["comparisons"]),
        )


def build_experiment_report(
    records: Sequence[RunRecord],
    tasks: Sequence[TaskInfo | str],
    variants: Sequence[str],
    baseline: str,
    budget_reached: bool,
    *,
    repetitions: int | None = None,
    seed: int = stats.SEED,
    resamples: int = stats.RESAMPLES,
    level: float = stats.LEVEL,
) -> ExperimentReport:
    """The report of `records` (one RunRecord per finished run) for these tasks and variants.

    `repetitions`: the planned runs per (task, variant), the k of pass@k; default the highest
    repetition number among the records.
    """
    task_ids = tuple(t.id if isinstance(t, TaskInfo) else t for t in tasks)
    names = tuple(variants)
    if not names:
        raise ExperimentError("an experiment report needs at least one variant", exit_code=2)
    if baseline not in names:
        raise ExperimentError(
            f"baseline {baseline!r} is not one of the variants ({', '.join(names)})", exit_code=2
        )
    if len(set(names)) != len(names) or len(set(task_ids)) != len(task_ids):
        raise ExperimentError("variant names and task ids must be unique", exit_code=2)
    experiments = sorted({r.experiment for r in records})
    if len(experiments) > 1:
        raise ExperimentError(
            f"the runs belong to several experiments ({', '.join(experiments)}): report one at a time"
        )
    kept = [r for r in records if r.variant in names and r.task in task_ids]
    k = repetitions if repetitions is not None else max((r.repetition for r in kept), default=0)
    grouped: dict[str, dict[str, list[RunRecord]]] = {v: {t: [] for t in task_ids} for v in names}
    for record in kept:
        grouped[record.variant][record.task].append(record)
    summaries = tuple(
        VariantSummary(
            name,
            figures(grouped[name], k, label=name, level=level, seed=seed, resamples=resamples),
            tuple(
                TaskFigures(
                    t,
                    figures(
                        {t: grouped[name][t]},
                        k,
                        label=f"{name}\x00{t}",
                        level=level,
                        seed=seed,
                        resamples=resamples,
                    ),
                )
                for t in task_ids
            ),
        )
        for name in names
    )
    runs = {v: {t: task_runs(rs) for t, rs in per_task.items()} for v, per_task in grouped.items()}
    comparisons = stats.compare(
        runs,
        names,
        baseline,
        task_ids,
        budget_reached=budget_reached,
        level=level,
        seed=seed,
        resamples=resamples,
    )
    return ExperimentReport(
        experiment=experiments[0] if experiments else "",
        baseline=baseline,
        variants=names,
        tasks=task_ids,
        k=k,
        budget_reached=budget_reached,
        records=len(records),
        infra_excluded=sum(not r.counted for r in kept),
        ignored=len(records) - len(kept),
        spend_usd=sum(r.cost_usd for r in records),
        level=level,
        alpha=stats.ALPHA,
        seed=seed,
        resamples=resamples,
        success_margin=stats.SUCCESS_MARGIN,
        cost_margin=stats.COST_MARGIN,
        summaries=summaries,
        comparisons=comparisons,
    )
