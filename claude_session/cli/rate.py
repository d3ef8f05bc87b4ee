"""`claude-session rate`: rate a session (claude_session.session.outcomes stores it in Phoenix).

Ratings are session annotations in Phoenix: they show in the Sessions tab of the project, and
`rate` run twice updates the one rating.
"""

from __future__ import annotations

import argparse

from claude_session.cli.context import Context, phoenix_target
from claude_session.cli.parser import Parser
from claude_session.core import fields
from claude_session.core.errors import UsageError
from claude_session.phoenix import annotations as anno
from claude_session.phoenix.client import PhoenixClient
from claude_session.session import launcher
from claude_session.session.outcomes import MAX_SCORE, MIN_SCORE, parse_score, rating

MAX_LABEL = 50
MAX_NOTE = 1000
PHOENIX_TIMEOUT = 30.0

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
