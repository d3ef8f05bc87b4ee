"""The ledger's replay (what resume relies on) and the budget's rule."""

from __future__ import annotations

from pathlib import Path

from claude_session.experiment.budget import WAIT, Budget, Refusal
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
