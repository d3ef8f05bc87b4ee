"""A session's outcomes in Phoenix: the `--check` result, the rating question at the end of a
shell, and the rating itself (`claude-session rate`), stored as session annotations
(claude_session.phoenix.annotations) that show in the project's Sessions tab."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_session.core.errors import UsageError
from claude_session.phoenix import annotations as anno
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.session.check import CheckResult, run_check
from claude_session.stack.settings import StackSettings

MIN_SCORE, MAX_SCORE = 0.0, 10.0
RATE_PROMPT_VAR = "CLAUDE_SESSION_RATE_PROMPT"
QUESTION = f"claude-session: rate this session {MIN_SCORE:g}-{MAX_SCORE:g} (Enter to skip): "
SESSION_WAIT = 20.0  # seconds for a finished session's last spans to reach Phoenix
PHOENIX_TIMEOUT = 30.0
_OFF = ("0", "false", "no", "off")


def parse_score(text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        raise UsageError(f"--score: {text[:40]!r} is not a number") from None
    if not math.isfinite(score) or not MIN_SCORE <= score <= MAX_SCORE:
        raise UsageError(f"--score: must be between {MIN_SCORE:g} and {MAX_SCORE:g}")
    return score


def rating(
    session_id: str, score: float | None, label: str | None, note: str | None
) -> anno.SessionAnnotation:
    return anno.SessionAnnotation(
        session_id=session_id,
        name=anno.RATING,
        annotator_kind=anno.HUMAN,
        score=score,
        label=label,
        explanation=note or None,
    )


def _say(line: str) -> None:
    print(f"claude-session: {line}", file=sys.stderr, flush=True)


def _record(
    client: PhoenixClient, project: str, annotation: anno.SessionAnnotation, wait: float
) -> str | None:
    """Store `annotation` once its session reached Phoenix; why it was not stored, else None."""
    session_id = annotation.session_id

    def waiting() -> None:
        _say(f"waiting up to {wait:g}s for the spans of session {session_id} to reach Phoenix")

    try:
        if not anno.wait_for_session(client, session_id, project, wait, on_wait=waiting):
            return f"Phoenix has no spans of session {session_id} in project {project!r}"
        anno.annotate_session(client, annotation)
    except PhoenixError as err:
        return str(err)
    return None


def check_annotation(session_id: str, result: CheckResult) -> anno.SessionAnnotation:
    return anno.SessionAnnotation(
        session_id=session_id,
        name=anno.CHECK,
        annotator_kind=anno.CODE,
        score=1.0 if result.passed else 0.0,
        label=anno.PASSED if result.passed else anno.FAILED,
        explanation=result.explanation(),
        metadata={
            "command": result.recorded_command(),
            "exit_code": result.exit_code,
            "duration_s": round(result.duration_s, 3),
        },
    )


def record_check(
    result: CheckResult, session_id: str, client: PhoenixClient, project: str, wait: float = SESSION_WAIT
) -> bool:
    """Report the check in one line and record it on the session; whether it was recorded."""
    if result.missing:
        _say(f"check command not found (sh exited {result.exit_code}): nothing recorded")
        return False
    problem = _record(client, project, check_annotation(session_id, result), wait)
    if problem:
        _say(f"{result.summary()}; not recorded: {problem}")
        return False
    _say(f"{result.summary()}, recorded on session {session_id}")
    return True


def rate_prompt_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get(RATE_PROMPT_VAR, "1").strip().lower() not in _OFF


def prompt_rating(
    session_id: str,
    client: PhoenixClient,
    project: str,
    ask: Callable[[str], str] = input,
    wait: float = SESSION_WAIT,
) -> float | None:
    """One question; Enter (or Ctrl-D / Ctrl-C) skips it. The score recorded, if any."""
    try:
        answer = ask(QUESTION).strip()
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return None
    if not answer:
        return None
    try:
        score = parse_score(answer)
    except UsageError as err:
        later = f"claude-session rate {session_id} --score N"
        _say(f"{str(err).removeprefix('--score: ')}; not rated (later: {later})")
        return None
    problem = _record(client, project, rating(session_id, score, None, None), wait)
    if problem:
        _say(f"not rated: {problem}")
        return None
    _say(f"rated session {session_id}: score {score:g}")
    return score


@dataclass(frozen=True)
class AfterSession:
    """What happened once the session ended: the check's result (if one ran) and whether it was
    recorded on the session, and the score the user gave (if asked and answered)."""

    check: CheckResult | None = None
    check_recorded: bool = False
    score: float | None = None


def after_session(
    session_id: str,
    settings: StackSettings,
    environ: Mapping[str, str],
    check: str | None,
    ask_rating: bool,
    cwd: Path | None = None,
) -> AfterSession:
    """Once Claude Code (or the shell) exited: run the check in `cwd`, then ask for a rating
    (shell only). Never changes the launcher's exit code."""
    try:
        api_key = settings.phoenix_api_key(environ)
    except PhoenixError as err:
        _say(f"{err}; the check and the rating go without a Phoenix API key")
        api_key = None
    client = PhoenixClient(settings.phoenix_base, timeout=PHOENIX_TIMEOUT, api_key=api_key)
    result, recorded, score = None, False, None
    if check is not None:
        result = run_check(check, environ, cwd)
        recorded = record_check(result, session_id, client, settings.project)
    if ask_rating and rate_prompt_enabled(environ) and sys.stdin.isatty():
        score = prompt_rating(session_id, client, settings.project)
    return AfterSession(result, recorded, score)
