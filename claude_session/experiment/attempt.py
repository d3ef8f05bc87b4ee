"""One attempt at one planned run: worktree, Claude Code, spans, check, ledger lines, teardown."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_session.experiment import invocation, workspace
from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.ledger import INFRA, INTERRUPTED, Ledger, key_dict, now_iso
from claude_session.experiment.records import RunRecord, RunStatus
from claude_session.experiment.schedule import RunKey
from claude_session.experiment.spans import SPAN_WAIT_S, RunSpans, read_run_spans
from claude_session.experiment.spec import Experiment
from claude_session.phoenix import annotations as anno
from claude_session.phoenix.client import PhoenixClient
from claude_session.session import launcher
from claude_session.session.check import SHELL, CheckResult
from claude_session.session.outcomes import check_annotation
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

ANNOTATION_WAIT_S = 20.0


@dataclass(frozen=True)
class Environment:
    """What every attempt of one runner shares."""

    experiment: Experiment
    ledger: Ledger
    work_dir: Path
    settings: StackSettings
    state: StatePaths
    environ: Mapping[str, str]
    phoenix: PhoenixClient
    claude: str
    shard: str
    keep_failed: bool
    groups: invocation.ProcessGroups


@dataclass(frozen=True)
class Outcome:
    key: RunKey
    session_id: str
    status: str  # passed, failed, infra, interrupted
    cost_usd: float
    record: RunRecord | None  # None: retried, or interrupted
    kept: Path | None = None  # the kept work directory (--keep-failed)
    reason: str = ""


def run_attempt(env: Environment, key: RunKey, attempt: int, infra_so_far: int, session_id: str) -> Outcome:
    experiment = env.experiment
    task, variant = experiment.task(key.task), experiment.variant(key.variant)
    session = launcher.Session.new(
        experiment.name,
        variant.name,
        task.id,
        session_id,
        experiment=experiment.name,
        run=str(key.repetition),
    )
    claude_session_id = str(uuid.uuid4())
    root = env.work_dir / f"{key.slug()}--a{attempt}--{session_id.rsplit('-', 1)[-1]}"
    env.ledger.append(
        "attempt_start",
        **key_dict(key),
        attempt=attempt,
        session_id=session.id,
        claude_session_id=claude_session_id,
        shard=env.shard,
        workdir=str(root),
    )
    began, started_at = time.monotonic(), now_iso()
    kept: Path | None = None
    try:
        space = workspace.create(task, root)
        if variant.claude_md is not None:
            (space.tree / "CLAUDE.md").write_text(variant.claude_md, encoding="utf-8")
        run_env = invocation.run_env(session, env.settings, env.state, env.environ, variant, space)
        args = invocation.claude_args(env.claude, task, variant, claude_session_id, experiment.max_budget_usd)
        claude_began = time.monotonic()
        result = invocation.run_claude(args, run_env, space, task.timeout_s, env.groups)
        claude_wall_s = round(time.monotonic() - claude_began, 3)
        check: CheckResult | None = None
        if not result.interrupted and result.infra_reason is None:
            # The check runs while the run's last spans are on their way to Phoenix (~1 s).
            # The check sees the run's HOME too, never the user's; not the variant's env: it judges
            # every variant alike.
            check_env = {**env.environ, "HOME": str(space.home)}
            check = _run_check(task.check, space, check_env, task.timeout_s, env.groups)
        interrupted = env.groups.stopping.is_set()
        wait_s = 0.0 if interrupted else SPAN_WAIT_S  # Ctrl-C: one look, no waiting
        spans = read_run_spans(env.phoenix, env.settings.project, session.id, result.output_tokens, wait_s)
        if interrupted:
            status, reason, check = INTERRUPTED, "stopped (Ctrl-C)", None
        elif infra := result.infra_reason or _upstream_errors(spans):
            status, reason, check = INFRA, infra, None  # the check of a disturbed run says nothing
        else:
            assert check is not None
            status = "passed" if check.passed else "failed"
            reason = check.explanation()
            _annotate(env, session.id, check)
        ended_at = now_iso()
        wall_s = round(time.monotonic() - began, 3)
        env.ledger.append(
            "attempt_end",
            **key_dict(key),
            attempt=attempt,
            session_id=session.id,
            outcome=status,
            reason=reason,
            cost_usd=spans.cost_usd,
            spans_complete=spans.complete,
            wall_s=wall_s,
            claude_wall_s=claude_wall_s,
        )
        record = None
        retry = status == INFRA and infra_so_far + 1 <= experiment.max_infra_retries
        if status == INFRA and retry:
            env.ledger.append(
                "infra_retry", **key_dict(key), attempt=attempt, session_id=session.id, reason=reason
            )
        elif status != INTERRUPTED:
            # attempt: 1 + the infrastructure retries it took (an interrupted attempt is not one)
            record = _record(
                env,
                key,
                status,
                1 + infra_so_far,
                session.id,
                claude_session_id,
                spans,
                result,
                check,
                started_at,
                ended_at,
            )
            env.ledger.append("record", record=record.to_dict())
        if status in ("failed", INFRA) and env.keep_failed and record is not None:
            kept = root
        return Outcome(key, session.id, status, spans.cost_usd, record, kept, reason)
    except Exception as err:
        env.ledger.append(
            "attempt_end",
            **key_dict(key),
            attempt=attempt,
            session_id=session.id,
            outcome="error",
            reason=str(err),
            cost_usd=0.0,
        )
        if isinstance(err, OSError):  # a file or a process that could not be made: one line, no traceback
            raise ExperimentError(f"run {key.label()}: {err}") from err
        raise
    finally:
        if kept is None:
            workspace.remove(task, root)


def _upstream_errors(spans: RunSpans) -> str | None:
    if spans.errors:
        return f"{spans.errors} of {spans.requests} requests failed upstream (429/5xx/529 on the run's spans)"
    return None


def _run_check(
    command: str,
    space: workspace.Workspace,
    environ: Mapping[str, str],
    timeout_s: float,
    groups: invocation.ProcessGroups,
) -> CheckResult:
    """The task's check in the run's worktree (`sh -c`); its output goes to check.log beside it."""
    started = time.monotonic()
    with (space.root / "check.log").open("wb") as log:
        code, timed_out = invocation.run_guarded(
            [SHELL, "-c", command], space.tree, environ, log, subprocess.STDOUT, timeout_s, groups
        )
    if timed_out:
        code = launcher.TIMED_OUT  # the check overran: reported as timeout(1) does
    elif code is None or code < 0:  # stopped, or killed by a signal: reported the way a shell does
        code = 128 + (-code if code else signal.SIGKILL)
    return CheckResult(command, code, time.monotonic() - started)


def _annotate(env: Environment, session_id: str, check: CheckResult) -> None:
    """The check as the session's `check` annotation, as `claude-session --check` records it."""
    if anno.wait_for_session(env.phoenix, session_id, env.settings.project, ANNOTATION_WAIT_S):
        anno.annotate_session(env.phoenix, check_annotation(session_id, check))


def _record(
    env: Environment,
    key: RunKey,
    status: str,
    attempt: int,
    session_id: str,
    claude_session_id: str,
    spans: RunSpans,
    result: invocation.ClaudeResult,
    check: CheckResult | None,
    started_at: str,
    ended_at: str,
) -> RunRecord:
    run_status: RunStatus = "passed" if status == "passed" else "failed" if status == "failed" else "infra"
    return RunRecord(
        experiment=env.experiment.name,
        task=key.task,
        variant=key.variant,
        repetition=key.repetition,
        attempt=attempt,
        session_id=session_id,
        claude_session_id=claude_session_id,
        status=run_status,
        cost_usd=spans.cost_usd,
        cost_main_usd=spans.cost_main_usd,
        cost_subagent_usd=spans.cost_subagent_usd,
        cost_rest_usd=spans.cost_rest_usd,
        input_tokens=spans.input_tokens,
        output_tokens=spans.output_tokens,
        cache_read_tokens=spans.cache_read_tokens,
        cache_write_tokens=spans.cache_write_tokens,
        requests=spans.requests,
        turns=result.turns,
        duration_s=result.duration_s,
        started_at=started_at,
        ended_at=ended_at,
        result_text=result.text,
        check_exit_code=check.exit_code if check else None,
    )
