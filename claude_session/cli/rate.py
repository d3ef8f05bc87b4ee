"""`claude-session rate`, `--check CMD` and the rating question at the end of `--shell`.

Ratings and check results are session annotations in Phoenix (claude_session.phoenix.annotations):
they show in the Sessions tab of the project, and `rate` run twice updates the one rating.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping

from claude_session.cli.context import Context, phoenix_target
from claude_session.cli.parser import Parser
from claude_session.core import fields
from claude_session.core.errors import UsageError
from claude_session.phoenix import annotations as anno
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.session import launcher
from claude_session.session.check import CheckResult, run_check
from claude_session.stack.settings import StackSettings

MIN_SCORE, MAX_SCORE = 0.0, 10.0
MAX_LABEL = 50
MAX_NOTE = 1000
RATE_PROMPT_VAR = "CLAUDE_SESSION_RATE_PROMPT"
QUESTION = f"claude-session: rate this session {MIN_SCORE:g}-{MAX_SCORE:g} (Enter to skip): "
SESSION_WAIT = 20.0  # seconds for a finished session's last spans to reach Phoenix
PHOENIX_TIMEOUT = 30.0
_OFF = ("0", "false", "no", "off")

DESCRIPTION = f"""\
Rate a session: a score from {MIN_SCORE:g} to {MAX_SCORE:g} and/or a short label, with an optional
note, stored in Phoenix as the session's `rating` annotation (a HUMAN annotation, shown in
the project's Sessions tab). Rating a session again replaces its rating.

Without SESSION_ID: the session of this terminal (inside `claude-session --shell`), else
the last session started from this machine."""

EXAMPLES = """\
examples:
  claude-session rate --score 8
  claude-session rate code-review-20251101-143022-a3f2b1 --label good --note "found the bug"
  claude-session -t debugging --check "pytest -q" "fix the failing test"   (records a `check`)"""


def parse_score(text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        raise UsageError(f"--score: {text[:40]!r} is not a number") from None
    if not math.isfinite(score) or not MIN_SCORE <= score <= MAX_SCORE:
        raise UsageError(f"--score: must be between {MIN_SCORE:g} and {MAX_SCORE:g}")
    return score


def valid_label(text: str) -> str:
    if not text or text != text.strip():
        raise UsageError("--label: must not be empty or start or end with whitespace")
    if len(text) > MAX_LABEL:
        raise UsageError(f"--label: at most {MAX_LABEL} characters (got {len(text)})")
    if not text.isprintable():
        raise UsageError("--label: no control characters")
    return text


def valid_note(text: str) -> str:
    if len(text) > MAX_NOTE:
        raise UsageError(f"--note: at most {MAX_NOTE} characters (got {len(text)})")
    if not all(ch.isprintable() or ch in "\n\t" for ch in text):
        raise UsageError("--note: no control characters (newlines and tabs are fine)")
    return text


def valid_session_id(text: str) -> str:
    try:
        return fields.validate(fields.SESSION_ID, text)
    except fields.InvalidSessionValue as err:
        raise UsageError("SESSION_ID" + str(err).removeprefix(fields.SESSION_ID.option)) from None


def resolve_session(explicit: str | None, ctx: Context) -> str:
    """SESSION_ID, else this terminal's session, else the last one started from this machine."""
    if explicit is not None:
        return valid_session_id(explicit)
    current = launcher.current_from_env(ctx.environ).get(fields.SESSION_ID.key)
    if current:
        return valid_session_id(current)
    last = launcher.last_session_id(ctx.state)
    if last:
        return valid_session_id(last)
    raise UsageError("no session to rate: give a SESSION_ID (no session was started from this machine)")


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


def describe(score: float | None, label: str | None) -> str:
    parts = ([f"score {score:g}"] if score is not None else []) + ([f"label {label!r}"] if label else [])
    return ", ".join(parts)


def build_parser() -> Parser:
    parser = Parser(
        prog="claude-session rate",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("session_id", nargs="?", metavar="SESSION_ID", help="default: see above")
    parser.add_argument(
        "--score", type=str, metavar="N", help=f"a number from {MIN_SCORE:g} to {MAX_SCORE:g} (8, 7.5)"
    )
    parser.add_argument("--label", metavar="LABEL", help=f"short text, at most {MAX_LABEL} characters")
    parser.add_argument("--note", metavar="TEXT", help=f"a comment, at most {MAX_NOTE} characters")
    parser.add_argument("--phoenix-url", metavar="URL", help="default: the running stack's Phoenix")
    parser.add_argument("--project", help="default: the running stack's project (claude-code)")
    return parser


def main(argv: list[str], ctx: Context) -> int:
    args = build_parser().parse_args(argv)
    if args.score is None and args.label is None:
        raise UsageError("give --score N and/or --label LABEL (see `claude-session rate --help`)")
    score = parse_score(args.score) if args.score is not None else None
    label = valid_label(args.label) if args.label is not None else None
    note = valid_note(args.note) if args.note is not None else None
    session_id = resolve_session(args.session_id, ctx)
    where = phoenix_target(args.phoenix_url, args.project, ctx)
    client = PhoenixClient(where.url, timeout=PHOENIX_TIMEOUT, api_key=where.api_key)
    if not anno.session_in_project(client, session_id, where.project):
        raise UsageError(
            f"Phoenix at {where.url} has no session {session_id!r} in project {where.project!r} "
            "(no spans of it yet?)"
        )
    anno.annotate_session(client, rating(session_id, score, label, note))
    print(f"rated session {session_id}: {describe(score, label)}" + (" (with a note)" if note else ""))
    return 0


# --- after a session: --check and the question at the end of --shell --------------------------


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


def after_session(
    session_id: str, settings: StackSettings, environ: Mapping[str, str], check: str | None, ask_rating: bool
) -> None:
    """Once Claude Code (or the shell) exited: run the check, then ask for a rating (shell only).
    Never changes the launcher's exit code."""
    try:
        api_key = settings.phoenix_api_key(environ)
    except PhoenixError as err:
        _say(f"{err}; the check and the rating go without a Phoenix API key")
        api_key = None
    client = PhoenixClient(settings.phoenix_base, timeout=PHOENIX_TIMEOUT, api_key=api_key)
    if check is not None:
        record_check(run_check(check, environ), session_id, client, settings.project)
    if ask_rating and rate_prompt_enabled(environ) and sys.stdin.isatty():
        prompt_rating(session_id, client, settings.project)
