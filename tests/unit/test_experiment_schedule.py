"""The schedule: complete blocks, orders drawn from the seed, interleaved, deterministic shards."""

from __future__ import annotations

import random
from collections import Counter
from itertools import groupby
from pathlib import Path

import pytest

from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.schedule import Shard, parse_shard, plan
from claude_session.experiment.spec import Experiment, Task, Variant

VARIANTS = ("a", "b", "c", "d")
TASKS = ("t1", "t2", "t3")


def experiment(seed: int = 1, repetitions: int = 5) -> Experiment:
    return Experiment(
        name="e",
        path=Path("/x.toml"),
        tasks=tuple(Task(t, Path("/r"), None, "p", "true", 60.0) for t in TASKS),
        variants=tuple(Variant(v) for v in VARIANTS),
        repetitions=repetitions,
        concurrency=1,
        budget_usd=1.0,
        seed=seed,
        max_infra_retries=0,
    )


def test_every_block_runs_every_variant_once_on_one_task_in_interleaved_order() -> None:
    runs = plan(experiment())
    assert len(runs) == len(TASKS) * len(VARIANTS) * 5
    blocks = [list(group) for _, group in groupby(runs, key=lambda r: r.block)]
    assert len(blocks) == len(TASKS) * 5
    for number, block in enumerate(blocks):
        assert sorted(r.key.variant for r in block) == sorted(VARIANTS)
        assert len({(r.key.task, r.key.repetition) for r in block}) == 1
        # repetition r of every task before r + 1, tasks in file order inside a repetition
        assert (block[0].key.repetition, block[0].key.task) == (
            number // len(TASKS) + 1,
            TASKS[number % len(TASKS)],
        )
    assert [r.position for r in runs] == list(range(len(runs)))
    assert Counter((r.key.task, r.key.variant) for r in runs) == {(t, v): 5 for t in TASKS for v in VARIANTS}


def test_orders_follow_the_seed() -> None:
    def orders(seed: int) -> list[tuple[str, ...]]:
        runs = plan(experiment(seed))
        return [tuple(r.key.variant for r in group) for _, group in groupby(runs, key=lambda r: r.block)]

    assert orders(1) == orders(1)  # deterministic
    assert orders(1) != orders(2)
    # each block's order is a shuffle seeded by (seed, task, repetition) alone: recomputed here
    for block, order in enumerate(orders(3)):
        task, repetition = TASKS[block % len(TASKS)], block // len(TASKS) + 1
        expected = list(VARIANTS)
        random.Random(f"3:{task}:{repetition}").shuffle(expected)
        assert list(order) == expected
    # the orders vary between blocks: 15 blocks of 4! orders are not all alike
    assert len(set(orders(1))) > 3


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_are_disjoint_and_cover_the_schedule(count: int) -> None:
    whole = plan(experiment())
    parts = [plan(experiment(), Shard(i, count)) for i in range(1, count + 1)]
    keys = [r.key for part in parts for r in part]
    assert len(keys) == len(set(keys))
    assert sorted(keys, key=str) == sorted((r.key for r in whole), key=str)
    for part in parts:  # whole blocks only, in the schedule's order
        assert [r.position for r in part] == sorted(r.position for r in part)
        assert all(Counter(r.block for r in part)[b] == len(VARIANTS) for b in {r.block for r in part})


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(ExperimentError) as refused:
        parse_shard(text)
    assert refused.value.exit_code == 2


def test_a_good_shard_parses() -> None:
    assert parse_shard(" 2/3 ") == Shard(2, 3)
