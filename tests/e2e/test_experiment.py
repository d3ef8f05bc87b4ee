"""`claude-session experiment run` with the real Claude Code CLI, the real patched proxy and a real
Phoenix (the fake upstream stands in for Anthropic and "solves" with `[[solve p=X]]`): outcomes,
isolation, the schedule as run, concurrency, resume after SIGKILL, and the budget cap."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from claude_session.experiment.example import make_example_repo
from claude_session.experiment.ledger import History, Ledger
from claude_session.experiment.records import RunRecord
from claude_session.experiment.schedule import RunKey
from claude_session.phoenix import annotations as anno
from tests.support import LAUNCHER, Stack, wait_for_spans

CALC_PROMPT = "The test in test_calc.py fails. Fix the bug in calc.py so that it passes."
CALC_CHECK = "python3 -m unittest -q test_calc"


def write_experiment(
    where: Path,
    name: str,
    variants: dict[str, str | dict[str, str]],
    repetitions: int,
    check: str = CALC_CHECK,
    prompt: str = CALC_PROMPT,
    budget_usd: float = 50.0,
    second_task: bool = False,
    infra_retries: int = 0,
    variant_extra: str = "",
) -> tuple[Path, Path]:
    """An experiment on a fresh example repository; the file and the repository. A variant is its
    CLAUDE.md text, or a table of its string keys."""
    repo = where / "repo"
    commit = make_example_repo(repo, os.environ)
    lines = [
        f'name = "{name}"',
        f"repetitions = {repetitions}",
        f"budget_usd = {budget_usd}",
        "seed = 11",
        f"max_infra_retries = {infra_retries}",
        "[[tasks]]",
        'id = "fix-add"',
        'repository = "repo"',
        f'commit = "{commit}"',
        f"prompt = {json.dumps(prompt)}",
        f"check = {json.dumps(check)}",
        "timeout = 120",
    ]
    if second_task:
        lines += [
            "[[tasks]]",
            'id = "fix-slugify"',
            'repository = "repo"',
            f'commit = "{commit}"',
            'prompt = "The test in test_words.py fails. Fix words.py."',
            'check = "python3 -m unittest -q test_words"',
        ]
    for variant, spec in variants.items():
        keys = spec if isinstance(spec, dict) else {"claude_md": spec}
        lines += ["[[variants]]", f'name = "{variant}"', *(f"{k} = {json.dumps(v)}" for k, v in keys.items())]
        lines.append(variant_extra)
    path = where / "experiment.toml"
    path.write_text("\n".join(lines) + "\n")
    return path, repo


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def history(stack: Stack, name: str) -> History:
    return Ledger(stack.state.root / "experiments" / name / "ledger.jsonl").replay()


def events(stack: Stack, name: str) -> list[dict[str, Any]]:
    return list(Ledger(stack.state.root / "experiments" / name / "ledger.jsonl").events())


def run(stack: Stack, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return stack.launcher("experiment", "run", *args, env=env, timeout=600)


def assert_user_checkout_untouched(repo: Path) -> None:
    assert subprocess.check_output(["git", "-C", str(repo), "status", "--porcelain"], text=True) == ""
    assert "return a - b" in (repo / "calc.py").read_text()
    worktrees = subprocess.check_output(
        ["git", "-C", str(repo), "worktree", "list", "--porcelain"], text=True
    )
    assert worktrees.count("worktree ") == 1, worktrees


def assert_no_run_directories(stack: Stack, name: str) -> None:
    work = stack.state.root / "experiments" / name / "work"
    assert not work.exists() or list(work.iterdir()) == []


def llm_spans(stack: Stack, name: str, records: list[RunRecord]) -> list[dict[str, Any]]:
    return wait_for_spans(stack, {"session.experiment": name}, sum(r.requests for r in records))


def test_runs_are_isolated_checked_and_in_the_planned_order(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("iso")
    # The check fails if it sees a file another run's check left: runs share nothing.
    check = f"test ! -e leaked && touch leaked && {CALC_CHECK}"
    variants = {"fixes": "Notes. [[solve p=1]]", "never": "Notes. [[solve p=0]]"}
    path, repo = write_experiment(tmp_path, name, variants, repetitions=2, check=check)

    dry = run(live_stack, claude_env, str(path), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = [line.split()[-1] for line in dry.stdout.splitlines()[1:]]
    assert len(planned) == 4 and history(live_stack, name).attempts == {}  # the dry run started nothing

    done = run(live_stack, claude_env, str(path))
    assert done.returncode == 0, done.stderr
    assert "finished: 4 of 4 runs done" in done.stdout
    assert "4/4 runs" in done.stderr  # the progress line

    started = [
        f"{e['task']}/{e['variant']}/{e['repetition']}"
        for e in events(live_stack, name)
        if e["event"] == "attempt_start"
    ]
    assert started == planned  # --dry-run equals what runs
    records = list(history(live_stack, name).records.values())
    assert sorted((r.variant, r.status) for r in records) == [
        ("fixes", "passed"),
        ("fixes", "passed"),
        ("never", "failed"),
        ("never", "failed"),
    ]
    assert {r.check_exit_code for r in records if r.variant == "never"} == {1}
    assert_user_checkout_untouched(repo)
    assert not (repo / "leaked").exists()
    assert_no_run_directories(live_stack, name)

    # In Phoenix: each run's check on its session; its spans carry its Claude Code conversation.
    outcomes = anno.fetch_outcomes(live_stack.phoenix, live_stack.project, [r.session_id for r in records])
    assert {r.session_id: outcomes[r.session_id].check_passed for r in records} == {
        r.session_id: r.status == "passed" for r in records
    }
    spans = llm_spans(live_stack, name, records)
    by_session = Counter(s["attributes"]["session.id"] for s in spans)
    assert {r.session_id: by_session[r.session_id] for r in records} == {
        r.session_id: 3 if r.variant == "fixes" else 1
        for r in records  # Read, Edit, the answer
    }
    for record in records:  # the record's cost is its spans' cost, summed here independently
        cost = sum(
            s["attributes"]["llm.cost.total"]
            for s in spans
            if s["attributes"]["session.id"] == record.session_id
        )
        assert record.cost_usd == pytest.approx(cost, rel=1e-9) and cost > 0


def test_concurrent_runs_never_share_a_session(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("par")
    # c carries the directive in its appended system prompt instead of its CLAUDE.md
    variants: dict[str, str | dict[str, str]] = {
        "a": "[[solve p=1]]",
        "b": "[[solve p=0]]",
        "c": {"append_system_prompt": "[[solve p=1]]"},
    }
    path, repo = write_experiment(tmp_path, name, variants, repetitions=2)
    done = run(live_stack, claude_env, str(path), "-j", "3")
    assert done.returncode == 0, done.stderr
    found = history(live_stack, name)
    records = list(found.records.values())
    assert len(records) == 6 and len({r.session_id for r in records}) == 6
    attempts = sorted(found.attempts.values(), key=lambda a: a.started_at)
    # they really overlapped: some run started before the one before it had ended
    assert any(b.started_at < (a.ended_at or "") for a, b in itertools.pairwise(attempts))
    by_session = {r.session_id: r for r in records}
    spans = llm_spans(live_stack, name, records)
    assert len(spans) == sum(r.requests for r in records) == 2 * 3 + 2 * 1 + 2 * 3
    for span in spans:
        attributes = span["attributes"]
        record = by_session[attributes["session.id"]]
        assert attributes["claude_code.session_id"] == record.claude_session_id
        assert attributes["session.prompt_version"] == record.variant
        assert attributes["session.name"] == record.task
        assert attributes["session.run"] == str(record.repetition)
        assert attributes["session.type"] == name
    assert {r.variant: r.status for r in records} == {"a": "passed", "b": "failed", "c": "passed"}
    assert_user_checkout_untouched(repo)
    assert_no_run_directories(live_stack, name)


def processes_under(directory: Path) -> list[int]:
    """Processes whose working directory is inside `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")).is_relative_to(directory):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_killed_runner_resumes_with_exactly_the_planned_runs(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("kill")
    # The fake holds each answer 4 s (`pause`), so a run is surely in flight when the runner dies.
    prompt = CALC_PROMPT + " [[fault:pause]]"
    path, repo = write_experiment(
        tmp_path, name, {"a": "[[solve p=0]]", "b": "[[solve p=0]]"}, 2, prompt=prompt
    )
    work = live_stack.state.root / "experiments" / name / "work"
    runner = subprocess.Popen(
        [str(LAUNCHER), "experiment", "run", str(path)],
        env=claude_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (work.exists() and any(work.glob("*/claude.json")) and processes_under(work)):
            assert runner.poll() is None and time.monotonic() < deadline, "no run started"
            time.sleep(0.2)
        time.sleep(1.0)  # Claude Code is waiting for the paused answer
        killed = history(live_stack, name).open_attempts()
        assert len(killed) == 1
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    deadline = time.monotonic() + 10
    while processes_under(work) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_under(work) == []
    # Claude Code died with its runner: an orphan would have got its answer after the pause and
    # printed its JSON result into the attempt's claude.json.
    time.sleep(5.0)
    assert (Path(killed[0].workdir) / "claude.json").read_bytes() == b""
    status = live_stack.launcher("experiment", "status", str(path), env=claude_env)
    assert (
        "0 done of 4" in status.stdout and "0 running, 4 left (1 interrupted, to run again)" in status.stdout
    )

    done = run(live_stack, claude_env, str(path))
    assert done.returncode == 0, done.stderr
    found = history(live_stack, name)
    records = list(found.records.values())
    assert Counter((r.task, r.variant) for r in records) == {("fix-add", "a"): 2, ("fix-add", "b"): 2}
    assert len({r.session_id for r in records}) == 4 and len({r.claude_session_id for r in records}) == 4
    assert killed[0].session_id not in {r.session_id for r in records}
    assert found.attempts[killed[0].session_id].outcome == "interrupted"
    assert_user_checkout_untouched(repo)
    assert_no_run_directories(live_stack, name)
    # In Phoenix each planned run is one session with one check; the killed attempt has none.
    spans = llm_spans(live_stack, name, records)
    sessions = {
        (
            s["attributes"]["session.prompt_version"],
            s["attributes"]["session.run"],
            s["attributes"]["session.id"],
        )
        for s in spans
        if s["attributes"]["session.id"] != killed[0].session_id
    }
    assert Counter((variant, run_) for variant, run_, _ in sessions) == {
        ("a", "1"): 1,
        ("a", "2"): 1,
        ("b", "1"): 1,
        ("b", "2"): 1,
    }
    checked = anno.fetch_outcomes(
        live_stack.phoenix, live_stack.project, [*by_id(records), killed[0].session_id]
    )
    assert set(checked) == set(by_id(records))


def by_id(records: list[RunRecord]) -> dict[str, RunRecord]:
    return {r.session_id: r for r in records}


def test_the_budget_cap_is_never_passed(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    # What one run costs, measured by a one-run experiment of the same shape.
    probe = unique("budget-probe")
    path, _ = write_experiment(tmp_path / "probe", probe, {"a": "[[solve p=0]]"}, repetitions=1)
    assert run(live_stack, claude_env, str(path)).returncode == 0
    (one,) = history(live_stack, probe).records.values()
    assert one.cost_usd > 0

    name = unique("budget-capd")  # the same length as the probe's name: the same prompt sizes
    cap = 2.5 * one.cost_usd
    path, _ = write_experiment(
        tmp_path / "capped", name, {"a": "[[solve p=0]]"}, repetitions=5, budget_usd=cap
    )
    done = run(live_stack, claude_env, str(path))
    assert done.returncode == 0, done.stderr
    assert "stopped: budget reached" in done.stdout and "2 of 5 runs done" in done.stdout
    found = history(live_stack, name)
    assert len(found.records) == 2
    (stop,) = found.budget_stops
    assert stop["reason"] == "budget reached" and stop["left"] == 3
    # spend, summed here from the spans Phoenix holds for the experiment, stays under the cap
    spans = llm_spans(live_stack, name, list(found.records.values()))
    spent = sum(s["attributes"]["llm.cost.total"] for s in spans)
    assert spent == pytest.approx(found.spent_usd(), rel=1e-9)
    assert spent <= cap
    status = live_stack.launcher("experiment", "status", str(path), env=claude_env)
    assert status.returncode == 0
    assert "2 done of 5" in status.stdout and "budget reached" in status.stdout


def test_two_shards_run_disjoint_halves_that_make_the_whole(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("shards")
    path, repo = write_experiment(
        tmp_path, name, {"a": "[[solve p=1]]", "b": "[[solve p=0]]"}, 2, second_task=True
    )
    command = [str(LAUNCHER), "experiment", "run", str(path), "--shard"]
    shards = [
        subprocess.Popen(
            [*command, f"{i}/2"],
            env=claude_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]  # at the same time, on one ledger
    outputs = [shard.communicate(timeout=600) for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0], outputs
    assert all("finished: 4 of 4 runs done" in out for out, _ in outputs)
    found = history(live_stack, name)
    assert Counter((r.task, r.variant) for r in found.records.values()) == {
        (task, variant): 2 for task in ("fix-add", "fix-slugify") for variant in ("a", "b")
    }
    by_shard = Counter(a.shard for a in found.attempts.values())
    assert by_shard == {"1/2": 4, "2/2": 4}
    # shard 1 took the odd blocks (repetition 1 and 2 of fix-add), shard 2 the even ones
    assert {a.key.task for a in found.attempts.values() if a.shard == "1/2"} == {"fix-add"}
    assert {r.status for r in found.records.values() if r.variant == "a"} == {"passed"}
    assert_user_checkout_untouched(repo)
    status = live_stack.launcher("experiment", "status", str(path), env=claude_env)
    assert "8 done of 8" in status.stdout and "0 left" in status.stdout


def test_keep_failed_keeps_the_failed_runs_worktree(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("keep")
    path, repo = write_experiment(tmp_path, name, {"never": "[[solve p=0]]"}, repetitions=1)
    done = run(live_stack, claude_env, str(path), "--keep-failed")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "kept failed run" in line]
    kept = Path(line.split(" in ", 1)[1])
    try:
        assert line.startswith("claude-session: kept failed run fix-add/never/1 in ")
        assert "return a - b" in (kept / kept.name / "calc.py").read_text()
        assert json.loads((kept / "claude.json").read_text())["is_error"] is False
        assert "FAILED" in (kept / "check.log").read_text()
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(kept / kept.name)], check=True
        )


def test_infrastructure_failures_are_retried_and_never_count_as_failures(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("infra")
    # Every upstream answer is a 529; Claude Code is told not to retry on its own.
    prompt = CALC_PROMPT + " [[fault:529]]"
    env_line = 'env = { CLAUDE_CODE_MAX_RETRIES = "0" }'
    path, repo = write_experiment(
        tmp_path, name, {"a": "[[solve p=1]]"}, 1, prompt=prompt, infra_retries=1, variant_extra=env_line
    )
    done = run(live_stack, claude_env, str(path))
    assert done.returncode == 0, done.stderr
    assert "retrying" in done.stderr
    found = history(live_stack, name)
    (record,) = found.records.values()
    assert (record.status, record.attempt, record.counted, record.check_exit_code) == (
        "infra",
        2,
        False,
        None,
    )
    attempts = found.attempts_of(RunKey(record.task, record.variant, record.repetition))
    assert [a.outcome for a in attempts] == ["infra", "infra"]
    assert len({a.session_id for a in attempts}) == 2  # a retry is a new session
    retries = [e for e in events(live_stack, name) if e["event"] == "infra_retry"]
    assert len(retries) == 1
    # the upstream's 529, passed through unchanged by the proxy (one attempt, no rewrite to 500)
    assert "stopped on an API error (529)" in retries[0]["reason"]
    # no check ran, so nothing was recorded as the variant's outcome in Phoenix
    assert anno.fetch_outcomes(live_stack.phoenix, live_stack.project, [a.session_id for a in attempts]) == {}
    status = live_stack.launcher("experiment", "status", str(path), env=claude_env)
    assert "1 infrastructure failures" in status.stdout
    assert_user_checkout_untouched(repo)
    assert_no_run_directories(live_stack, name)


def test_ctrl_c_stops_cleanly_and_run_again_finishes(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("ctrlc")
    prompt = CALC_PROMPT + " [[fault:pause]]"  # each answer is held 4 s: a run is in flight
    path, repo = write_experiment(tmp_path, name, {"a": "[[solve p=0]]"}, 2, prompt=prompt)
    work = live_stack.state.root / "experiments" / name / "work"
    runner = subprocess.Popen(
        [str(LAUNCHER), "experiment", "run", str(path)],
        env=claude_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not processes_under(work):
            assert runner.poll() is None and time.monotonic() < deadline, "no run started"
            time.sleep(0.2)
        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        _, stderr = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    assert runner.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert processes_under(work) == []
    assert_no_run_directories(live_stack, name)
    assert_user_checkout_untouched(repo)
    found = history(live_stack, name)
    assert found.records == {} and found.open_attempts() == []
    assert [a.outcome for a in found.attempts.values()] == ["interrupted"]

    done = run(live_stack, claude_env, str(path))
    assert done.returncode == 0, done.stderr
    assert Counter((r.variant, r.repetition) for r in history(live_stack, name).records.values()) == {
        ("a", 1): 1,
        ("a", 2): 1,
    }
