"""The ledger's replay (what resume relies on), the budget's rule, and a changed file refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_session.experiment.budget import WAIT, Budget, Refusal
from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.ledger import Ledger, key_dict
from claude_session.experiment.records import RunRecord
from claude_session.experiment.schedule import RunKey

KEY = RunKey("t", "v1", 1)


def record(session_id: str, cost: float) -> RunRecord:
    return RunRecord(
        "e",
        "t",
        "v1",
        1,
        1,
        session_id,
        "uuid",
        "passed",
        cost,
        cost,
        0.0,
        0.0,
        1,
        2,
        3,
        4,
        1,
        1,
        0.5,
        "a",
        "b",
    )


def test_replay_finds_records_open_attempts_and_spend_and_skips_a_torn_line(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    start = dict(**key_dict(KEY), claude_session_id="u", shard="1/1", workdir="/w")
    ledger.append("attempt_start", attempt=1, session_id="s1", **start)
    ledger.append("attempt_end", **key_dict(KEY), attempt=1, session_id="s1", outcome="infra", cost_usd=0.25)
    ledger.append("attempt_start", attempt=2, session_id="s2", **start)
    ledger.append("attempt_end", **key_dict(KEY), attempt=2, session_id="s2", outcome="passed", cost_usd=0.5)
    ledger.append("record", record=record("s2", 0.5).to_dict())
    ledger.append("attempt_start", attempt=1, session_id="s3", **{**start, "repetition": 2})
    with ledger.path.open("a") as out:
        out.write('{"event": "attempt_end", "session_id": "s3", "outc')  # killed mid-write
    history = ledger.replay()
    assert history.records[KEY].session_id == "s2"
    assert [a.session_id for a in history.open_attempts()] == ["s3"]
    assert history.spent_usd() == 0.75 and history.largest_run_usd() == 0.5
    assert history.infra_failures(KEY) == 1


def test_the_budget_never_starts_a_run_that_could_pass_it() -> None:
    budget = Budget(1.0, None, 0.0, None)
    assert budget.try_reserve("a") is None  # no estimate yet: one run goes alone
    assert budget.try_reserve("b") == WAIT
    budget.settle("a", 0.4)
    assert budget.try_reserve("b") is None  # 0.4 spent + 0.4 estimate <= 1.0
    assert budget.try_reserve("c") == WAIT  # 0.4 + 0.4 reserved + 0.4 > 1.0, but b may come in cheaper
    budget.settle("b", 0.4)
    refusal = budget.try_reserve("c")
    assert isinstance(refusal, Refusal) and (refusal.spent_usd, refusal.estimate_usd) == (0.8, 0.4)
    assert "budget reached" in refusal.describe()


def test_max_budget_usd_is_the_estimate_from_the_start() -> None:
    budget = Budget(1.0, 0.3, 0.0, None)
    assert [budget.try_reserve(t) for t in "abc"] == [None, None, None]
    assert budget.try_reserve("d") == WAIT


def test_a_changed_experiment_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """Its tasks, variants or seed changed since its runs began: exit 2, no run, the ledger as it was."""
    from claude_session.experiment.runner import Runner, ledger_of
    from claude_session.experiment.spec import Experiment, Task, Variant
    from claude_session.phoenix.client import PhoenixClient
    from claude_session.stack.settings import StackSettings
    from claude_session.stack.state import StatePaths

    def experiment(claude_md: str, repetitions: int) -> Experiment:
        task = Task("t", tmp_path, None, "p", "true", 60.0)
        return Experiment(
            "e",
            tmp_path / "e.toml",
            (task,),
            (Variant("v1", claude_md=claude_md),),
            repetitions,
            1,
            1.0,
            7,
            0,
        )

    state = StatePaths(tmp_path / "state")
    ledger = ledger_of(state, "e")
    ledger.append(
        "plan", shard="1/1", planned=2, left=2, seed=7, fingerprint=experiment("a", 2).fingerprint()
    )
    before = ledger.path.read_text()
    assert experiment("a", 2).fingerprint() == experiment("a", 5).fingerprint()  # more repetitions: the same
    changed = Runner(
        experiment("b", 2), StackSettings(), state, {}, PhoenixClient("http://127.0.0.1:9"), "claude"
    )
    with pytest.raises(ExperimentError) as refused:
        changed.run()
    assert refused.value.exit_code == 2 and "give the changed experiment a new name" in str(refused.value)
    assert ledger.path.read_text() == before


def test_other_shards_spend_and_runs_in_flight_count_too() -> None:
    budget = Budget(1.0, None, 0.0, 0.2)
    budget.sync(0.5, 0.2, others_in_flight=2)  # 0.5 spent + 2 x 0.2 elsewhere + 0.2 > 1.0
    assert budget.try_reserve("a") == WAIT  # their runs may end cheaper: wait, do not stop
    budget.sync(0.9, 0.2, others_in_flight=0)
    refusal = budget.try_reserve("a")
    assert isinstance(refusal, Refusal) and refusal.spent_usd == 0.9
