"""`experiment run`: the planned runs not done yet, at most `-j` at a time, within the budget.

The main thread schedules (order, budget, retries, Ctrl-C); a thread pool runs the attempts.
Resuming is replaying the ledger: runs with a record are done; an attempt that started and never
ended (the runner was killed) is closed as interrupted, its directories removed, and the run
starts again under a new attempt and new session ids. One runner per shard at a time (a lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from claude_session.core import fields
from claude_session.experiment import invocation, workspace
from claude_session.experiment.attempt import Environment, Outcome, run_attempt
from claude_session.experiment.budget import WAIT, Budget, Refusal
from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.ledger import INFRA, INTERRUPTED, LEDGER_NAME, History, Ledger, key_dict
from claude_session.experiment.progress import Progress
from claude_session.experiment.schedule import WHOLE, Shard, plan
from claude_session.experiment.spec import Experiment
from claude_session.phoenix.client import PhoenixClient
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

OTHERS_POLL_S = 0.5  # how often a runner waiting on other shards' runs looks at the ledger again


def experiment_dir(state: StatePaths, name: str) -> Path:
    return state.root / "experiments" / name


def ledger_of(state: StatePaths, name: str) -> Ledger:
    return Ledger(experiment_dir(state, name) / LEDGER_NAME)


@dataclass(frozen=True)
class Summary:
    planned: int
    done: int
    spent_usd: float
    budget_stopped: bool
    interrupted: bool
    kept: tuple[Path, ...]


def _lock_path(directory: Path, shard: str) -> Path:
    return directory / f"shard-{shard.replace('/', '-of-')}.lock"


@contextmanager
def shard_lock(directory: Path, shard: str) -> Iterator[bool]:
    """Hold the shard's lock while its runner lives (the kernel lets go when it dies, even on
    SIGKILL); yields whether it was free."""
    directory.mkdir(parents=True, exist_ok=True)
    with _lock_path(directory, shard).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def shard_running(directory: Path, shard: str) -> bool:
    """Whether a live runner holds the shard's lock."""
    if not _lock_path(directory, shard).exists():
        return False
    with shard_lock(directory, shard) as free:
        return not free


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Runner:
    def __init__(
        self,
        experiment: Experiment,
        settings: StackSettings,
        state: StatePaths,
        environ: Mapping[str, str],
        phoenix: PhoenixClient,
        claude: str,
        shard: Shard = WHOLE,
        concurrency: int | None = None,
        keep_failed: bool = False,
        out: TextIO = sys.stderr,
    ) -> None:
        self.experiment = experiment
        self.shard = shard
        self.concurrency = concurrency or experiment.concurrency
        self.out = out
        self.directory = experiment_dir(state, experiment.name)
        self.ledger = Ledger(self.directory / LEDGER_NAME)
        self.env = Environment(
            experiment=experiment,
            ledger=self.ledger,
            work_dir=self.directory / "work",
            settings=settings,
            state=state,
            environ=environ,
            phoenix=phoenix,
            claude=claude,
            shard=str(shard),
            keep_failed=keep_failed,
            groups=invocation.ProcessGroups(),
        )

    def run(self) -> Summary:
        with shard_lock(self.directory, str(self.shard)) as free, _sigterm_as_interrupt():
            if not free:
                raise ExperimentError(
                    f"shard {self.shard} of experiment {self.experiment.name} is already running"
                )
            return self._run()

    def _close_abandoned(self, history: History) -> None:
        """Attempts a killed runner left open (this shard's, or one whose runner is gone): closed,
        their directories removed."""
        for attempt in history.open_attempts():
            if attempt.shard != str(self.shard) and shard_running(self.directory, attempt.shard):
                continue
            self.ledger.append(
                "attempt_end",
                **key_dict(attempt.key),
                attempt=attempt.attempt,
                session_id=attempt.session_id,
                outcome=INTERRUPTED,
                reason="abandoned: the runner stopped while it ran",
                cost_usd=0.0,
            )
            if attempt.workdir:
                workspace.remove(self.experiment.task(attempt.key.task), Path(attempt.workdir))

    def _refuse_a_changed_file(self) -> None:
        """Runs of one experiment must be comparable: its tasks, variants and seed stay as they began."""
        fingerprint = self.experiment.fingerprint()
        for event in self.ledger.events():
            if event["event"] == "plan" and event.get("fingerprint") not in (None, fingerprint):
                raise ExperimentError(
                    f"the tasks, variants or seed of experiment {self.experiment.name} changed since its "
                    f"runs began ({self.ledger.path}); give the changed experiment a new name",
                    exit_code=2,
                )

    def _sync(self, budget: Budget) -> None:
        now = self.ledger.replay()
        others = sum(
            1
            for a in now.open_attempts()
            if a.shard != str(self.shard) and shard_running(self.directory, a.shard)  # not a dead runner's
        )
        budget.sync(now.spent_usd(), now.largest_run_usd(), others)

    def _run(self) -> Summary:
        experiment = self.experiment
        self._refuse_a_changed_file()
        self._close_abandoned(self.ledger.replay())
        history = self.ledger.replay()
        planned = [run.key for run in plan(experiment, self.shard)]
        pending = deque(key for key in planned if key not in history.records)
        done = len(planned) - len(pending)
        self.ledger.append(
            "plan",
            shard=str(self.shard),
            planned=len(planned),
            left=len(pending),
            seed=experiment.seed,
            fingerprint=experiment.fingerprint(),
        )
        budget = Budget(
            experiment.budget_usd, experiment.max_budget_usd, history.spent_usd(), history.largest_run_usd()
        )
        attempts = {key: len(history.attempts_of(key)) for key in planned}
        infra = {key: history.infra_failures(key) for key in planned}
        used_ids = set(history.attempts)
        progress = Progress(
            experiment.name + ("" if self.shard == WHOLE else f" shard {self.shard}"),
            len(planned),
            done,
            experiment.budget_usd,
            self.out,
        )
        kept: list[Path] = []
        budget_stopped = interrupted = False
        in_flight: dict[Future[Outcome], str] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="experiment-run") as pool:
            try:
                while pending or in_flight:
                    verdict: Refusal | str | None = None
                    while pending and len(in_flight) < self.concurrency:
                        self._sync(budget)
                        session_id = _new_session_id(experiment.name, used_ids)
                        verdict = budget.try_reserve(session_id)
                        if verdict == WAIT:
                            break
                        if isinstance(verdict, Refusal):
                            budget_stopped = True
                            self.ledger.append(
                                "budget_stop",
                                shard=str(self.shard),
                                spent_usd=verdict.spent_usd,
                                estimate_usd=verdict.estimate_usd,
                                budget_usd=verdict.budget_usd,
                                left=len(pending),
                                reason="budget reached",
                            )
                            print(
                                f"claude-session: experiment {experiment.name}: {verdict.describe()}; "
                                f"{len(pending)} runs not started",
                                file=self.out,
                                flush=True,
                            )
                            pending.clear()
                            break
                        key = pending.popleft()
                        attempts[key] += 1
                        future = pool.submit(
                            run_attempt, self.env, key, attempts[key], infra[key], session_id
                        )
                        in_flight[future] = session_id
                    if not in_flight:
                        if verdict == WAIT:  # only other shards' runs are in flight: their costs decide
                            time.sleep(OTHERS_POLL_S)
                            continue
                        break
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        token = in_flight.pop(future)
                        outcome = future.result()
                        budget.settle(token, outcome.cost_usd)
                        if outcome.status == INFRA:
                            infra[outcome.key] += 1
                        if outcome.record is None and outcome.status == INFRA:
                            pending.appendleft(outcome.key)
                        if outcome.record is not None:
                            done += 1
                        if outcome.kept is not None:
                            kept.append(outcome.kept)
                            print(
                                f"claude-session: kept failed run {outcome.key.label()} in {outcome.kept}",
                                file=self.out,
                                flush=True,
                            )
                        note = f"{outcome.key.label()} {outcome.status}"
                        if outcome.status == INFRA:
                            note += f": {outcome.reason}" + (", retrying" if outcome.record is None else "")
                        progress.show(done, budget.spent_usd, note)
            except BaseException:
                interrupted = True
                self.env.groups.stop_all()  # each attempt then ends as interrupted and removes its files
                for future in in_flight:
                    if not future.cancel():
                        with contextlib.suppress(Exception):  # the first error is the one reported
                            budget.settle(in_flight[future], future.result().cost_usd)
                raise
        return Summary(len(planned), done, budget.spent_usd, budget_stopped, interrupted, tuple(kept))


def _new_session_id(experiment: str, used: set[str]) -> str:
    """A session id never used in this experiment's ledger (24 random bits per second could clash)."""
    while True:
        session_id = fields.new_session_id(experiment)
        if session_id not in used:
            used.add(session_id)
            return session_id
