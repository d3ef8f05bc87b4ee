"""The schedule: randomized complete blocks, interleaved across tasks, drawn from the seed.

A block runs every variant once on one task, in an order drawn from the seed. Repetition r of
every task comes before repetition r + 1, so drift in time, load or rate limits falls on every
variant alike. The same file always gives the same schedule; `--shard I/N` takes the blocks
whose number is I - 1 modulo N, so the shards are disjoint and together make the whole.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.spec import Experiment

_SHARD = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)")


@dataclass(frozen=True)
class RunKey:
    """One planned run: a task, a variant, and which repetition of that pair (1-based)."""

    task: str
    variant: str
    repetition: int

    def label(self) -> str:
        return f"{self.task}/{self.variant}/{self.repetition}"

    def slug(self) -> str:
        """A name for the run's directories."""
        return f"{self.task}--{self.variant}--r{self.repetition}"


@dataclass(frozen=True)
class PlannedRun:
    position: int  # 0-based, in the whole schedule
    block: int  # 0-based
    key: RunKey


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, block: int) -> bool:
        return block % self.count == self.index - 1


WHOLE = Shard(1, 1)


def parse_shard(text: str) -> Shard:
    match = _SHARD.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ExperimentError(f"--shard: expected I/N with 1 <= I <= N, e.g. 1/2 (got {text!r})", exit_code=2)
    return Shard(int(match.group(1)), int(match.group(2)))


def block_order(experiment: Experiment, task: str, repetition: int) -> list[str]:
    """The variants' order in one block: a shuffle seeded by (seed, task, repetition) only, so a
    block's order does not depend on the other tasks or on how many repetitions there are."""
    names = [variant.name for variant in experiment.variants]
    random.Random(f"{experiment.seed}:{task}:{repetition}").shuffle(names)
    return names


def plan(experiment: Experiment, shard: Shard = WHOLE) -> list[PlannedRun]:
    """Every run of the experiment (or of one shard), in the order they start."""
    runs: list[PlannedRun] = []
    position = block = 0
    for repetition in range(1, experiment.repetitions + 1):
        for task in experiment.tasks:
            for variant in block_order(experiment, task.id, repetition):
                if shard.takes(block):
                    runs.append(PlannedRun(position, block, RunKey(task.id, variant, repetition)))
                position += 1
            block += 1
    return runs


def describe(runs: list[PlannedRun]) -> list[str]:
    """The schedule as `--dry-run` prints it: one line per run."""
    return [f"{run.position + 1:5d}  block {run.block + 1:4d}  {run.key.label()}" for run in runs]
