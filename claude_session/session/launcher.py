"""Per-terminal sessions: the environment that tags Claude Code's requests, one-off runs and shells."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from claude_session import CHECKOUT
from claude_session.core import fields, gateway_hints
from claude_session.phoenix.client import PhoenixClient
from claude_session.session import claude_cli
from claude_session.session import custom_headers as headers
from claude_session.session.errors import SessionError
from claude_session.stack import procs
from claude_session.stack.proxy_env import OFFLINE_UPSTREAM_KEY
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key, read_json, write_json

REPO = CHECKOUT
BUNDLED_CLAUDE = claude_cli.BUNDLED_CLAUDE

TIMED_OUT = 124  # a one-off killed at its timeout exits with this (as timeout(1) does)

# Markers in a session's environment, for `current` and for nested launches.
ENV_MARKERS = {
    fields.SESSION_ID.key: "CLAUDE_SESSION_ID",
    fields.SESSION_TYPE.key: "CLAUDE_SESSION_TYPE",
    fields.PROMPT_VERSION.key: "CLAUDE_SESSION_PROMPT_VERSION",
    fields.SESSION_NAME.key: "CLAUDE_SESSION_NAME",
}


@dataclass(frozen=True)
class Session:
    id: str
    type: str
    prompt_version: str
    name: str | None = None
    user: str | None = None  # who sends the requests (per request only, never proxy-wide)
    experiment: str | None = None  # an experiment run's (per request only): session.experiment
    run: str | None = None  # and its repetition: session.run

    @classmethod
    def new(
        cls,
        session_type: str | None,
        version: str | None,
        name: str | None,
        session_id: str | None = None,
        user: str | None = None,
        experiment: str | None = None,
        run: str | None = None,
    ) -> Session:
        """Validate every field before anything runs (exit 2 on a bad one)."""
        try:
            if user is not None:
                user = fields.validate(fields.SESSION_USER, user)
            if experiment is not None:
                experiment = fields.validate(fields.SESSION_EXPERIMENT, experiment)
            if run is not None:
                run = fields.validate(fields.SESSION_RUN, run)
            session_type = fields.validate(fields.SESSION_TYPE, session_type or fields.DEFAULT_TYPE)
            version = fields.validate(fields.PROMPT_VERSION, version or fields.DEFAULT_VERSION)
            if name is not None:
                name = fields.validate(fields.SESSION_NAME, name)
            if session_id is not None:
                session_id = fields.validate(fields.SESSION_ID, session_id)
            else:
                session_id = fields.new_session_id(session_type)
        except fields.InvalidSessionValue as err:
            raise SessionError(str(err), exit_code=2) from None
        return cls(session_id, session_type, version, name, user, experiment, run)

    def as_metadata(self) -> dict[str, str]:
        data = {
            fields.SESSION_ID.key: self.id,
            fields.SESSION_TYPE.key: self.type,
            fields.PROMPT_VERSION.key: self.prompt_version,
        }
        if self.name:
            data[fields.SESSION_NAME.key] = self.name
        return data

    def request_metadata(self) -> dict[str, str]:
        """What every request of the session carries: the session and, if known, its user and
        experiment run."""
        data = self.as_metadata()
        for field, value in (
            (fields.SESSION_USER, self.user),
            (fields.SESSION_EXPERIMENT, self.experiment),
            (fields.SESSION_RUN, self.run),
        ):
            if value:
                data[field.key] = value
        return data

    def label(self) -> str:
        label = f"{self.type} {self.prompt_version}" + (f" {self.name}" if self.name else "")
        return label + (f", user {self.user}" if self.user else "")


def current_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The session of the terminal `environ` belongs to (inside `claude-session --shell`)."""
    return {key: environ[var] for key, var in ENV_MARKERS.items() if environ.get(var)}


def record_last_session(state: StatePaths, session: Session) -> None:
    """Remember the session just started from this machine (`claude-session rate` without an id)."""
    state.root.mkdir(parents=True, exist_ok=True)
    write_json(state.last_session, session.as_metadata())


def last_session_id(state: StatePaths) -> str | None:
    """The id of the last session started from this machine, if one was recorded."""
    value = (read_json(state.last_session) or {}).get(fields.SESSION_ID.key)
    return value if isinstance(value, str) and value else None


def session_env(
    session: Session, settings: StackSettings, state: StatePaths, base: Mapping[str, str]
) -> dict[str, str]:
    """`base` (the user's environment) plus what points Claude Code at the proxy with this session."""
    env = dict(base)
    key = master_key(state, create=False)
    if not key:
        raise SessionError("no proxy key yet: start the stack with `claude-session up`")
    metadata = session.as_metadata()
    try:
        env["ANTHROPIC_CUSTOM_HEADERS"] = headers.merge(
            env.get("ANTHROPIC_CUSTOM_HEADERS"), session.request_metadata(), key
        )
    except fields.InvalidSessionValue as err:
        raise SessionError(f"ANTHROPIC_CUSTOM_HEADERS: {err}", exit_code=2) from None
    env["ANTHROPIC_BASE_URL"] = settings.proxy_url
    # Main loop / sub-agent / turn attribution; the user's own setting (even "0") wins.
    env.setdefault(gateway_hints.ENV_VAR, "1")
    if settings.offline and not (env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN")):
        # The fake upstream takes any key; without one Claude Code would ask to log in.
        env["ANTHROPIC_API_KEY"] = OFFLINE_UPSTREAM_KEY
    for key_name, var in ENV_MARKERS.items():
        value = metadata.get(key_name)
        if value:
            env[var] = value
        else:
            env.pop(var, None)
    return env


def find_claude(environ: Mapping[str, str]) -> str:
    """$CLAUDE_SESSION_CLAUDE, else `claude` on PATH, else the copy scripts/install put in .tools/."""
    return claude_cli.require(environ).path


def claude_for_shell(environ: Mapping[str, str]) -> claude_cli.ClaudeCli | None:
    """The CLI a session shell's `claude` runs; a shell opens without one, not with a bad choice."""
    return claude_cli.choose(environ)


def require_running_stack(state: StatePaths) -> StackSettings:
    """The recorded stack, with its proxy and Phoenix answering; one line per failure."""
    settings = StackSettings.recorded(state)
    if settings is None:
        raise SessionError("the stack is not running; start it with `claude-session up` (or `up --offline`)")
    if not procs.http_ok(settings.proxy_url + "/health/liveliness"):
        raise SessionError(
            f"the proxy is not answering at {settings.proxy_url}; start it with `claude-session up`"
        )
    if not PhoenixClient(settings.phoenix_base, timeout=3).healthy():
        # The proxy spools the spans on disk and sends them once Phoenix answers again.
        print(
            f"claude-session: warning: Phoenix is not reachable at {settings.phoenix_base}; spans wait"
            f" in {state.spool} until it is back (`claude-session up` starts it)",
            file=sys.stderr,
        )
    return settings


def claude_argv(claude: str, command: Sequence[str], passthrough: bool) -> list[str]:
    """`claude -p PROMPT` for a bare prompt; arguments after `--` go to claude unchanged."""
    if passthrough:
        return [claude, *command]
    return [claude, "-p", " ".join(command)]


def run_one_off(
    env: Mapping[str, str],
    argv: Sequence[str],
    cwd: Path | None = None,
    stdout: IO[bytes] | None = None,
    timeout: float | None = None,
) -> int:
    """Run claude once with the session; its exit code is ours. Nothing stays active afterwards.

    With a timeout, claude runs in its own process group, killed whole when time is up (exit
    124, as timeout(1)); without one it stays in the terminal's, so Ctrl-C reaches it."""
    try:
        if timeout is None:
            return subprocess.call(list(argv), env=dict(env), cwd=cwd, stdout=stdout)
        with subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=stdout,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        ) as proc:
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return _kill_group(proc)
            except KeyboardInterrupt:
                _kill_group(proc)
                raise
    except KeyboardInterrupt:
        return 130


def _kill_group(proc: subprocess.Popen[bytes]) -> int:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return TIMED_OUT


def run_shell(env: Mapping[str, str], session: Session, claude: claude_cli.ClaudeCli | None = None) -> int:
    """The user's shell with the session active; the prompt shows type and version, and `claude`
    in it runs the CLI given (put on PATH for this shell only, where PATH does not find it already)."""
    shell = env.get("SHELL") or "/bin/bash"
    if not shutil.which(shell):
        shell = "/bin/sh"
    tag = f"(claude-session: {session.type} {session.prompt_version}) "
    with tempfile.TemporaryDirectory(prefix="claude-session-bin-") as bin_dir:
        shell_env = claude_cli.env_with_claude(env, claude, Path(bin_dir))
        version = claude_cli.version_of(claude.path, shell_env) if claude else None
        print(
            f"claude-session: {session.id} ({session.label()}) active in this shell; `exit` ends it.\n"
            f"claude-session: {claude_cli.describe(claude, version)}",
            file=sys.stderr,
        )
        return _interactive(shell, shell_env, tag)


def _interactive(shell: str, shell_env: dict[str, str], tag: str) -> int:
    if Path(shell).name == "bash":
        # .bashrc usually sets PS1, so the tag is added after it runs.
        with tempfile.NamedTemporaryFile("w", prefix="claude-session-rc-", suffix=".sh", delete=False) as rc:
            rc.write('[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n')
            rc.write(f'PS1={_sh_quote(tag)}"${{PS1:-\\$ }}"\n')
            rc_path = rc.name
        try:
            return subprocess.call([shell, "--rcfile", rc_path, "-i"], env=shell_env)
        finally:
            os.unlink(rc_path)
    shell_env["PS1"] = tag + shell_env.get("PS1", "$ ")
    return subprocess.call([shell, "-i"], env=shell_env)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
