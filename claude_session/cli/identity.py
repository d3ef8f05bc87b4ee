"""Who the developer is: the identity the launcher sends as `session.user`, read at the command line.

In order: `--no-user` (nothing), `--user NAME`, then $CLAUDE_SESSION_USER (set but empty:
nothing), then `git config user.email` (run with the command's own environment and working
directory), else nothing. An explicit value that fails validation is an error (exit 2); a
git address that does not fit (spaces, non-ASCII) is skipped with a warning: nothing is
guessed from it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping

from claude_session.core import fields
from claude_session.core.errors import UsageError

ENV_VAR = fields.SESSION_USER.env  # CLAUDE_SESSION_USER
GIT_TIMEOUT_S = 5.0


def resolve_user(option: str | None, disabled: bool, environ: Mapping[str, str]) -> str | None:
    """The developer identity to send, or None when there is none or it is turned off."""
    if disabled:
        return None
    if option is not None:
        return _checked(option, "--user")
    if ENV_VAR in environ:
        value = environ[ENV_VAR]
        return _checked(value, ENV_VAR) if value else None
    email = git_user_email(environ)
    if email is None:
        return None
    try:
        return fields.validate(fields.SESSION_USER, email)
    except fields.InvalidSessionValue:
        print(
            f"claude-session: warning: `git config user.email` is not usable as the session user "
            f"(only {fields.SESSION_USER.hint}); sending none (set --user or {ENV_VAR})",
            file=sys.stderr,
        )
        return None


def _checked(value: str, source: str) -> str:
    try:
        return fields.validate(fields.SESSION_USER, value)
    except fields.InvalidSessionValue as err:
        reason = str(err).split(": ", 1)[1]
        raise UsageError(f"{source}: {reason}") from None


def git_user_email(environ: Mapping[str, str]) -> str | None:
    """`git config user.email` as git sees it here (repository, global or system), if set."""
    git = shutil.which("git", path=environ.get("PATH"))
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "config", "--get", "user.email"],
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    email = done.stdout.strip()
    return email if done.returncode == 0 and email else None
