"""The command line behind scripts/claude-session."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from claude_session.cli.context import Context
from claude_session.cli.identity import resolve_user
from claude_session.cli.parser import Parser
from claude_session.core.errors import ClaudeSessionError, UsageError
from claude_session.proxy import spool_files
from claude_session.session import launcher, run
from claude_session.session.run import SessionRequest
from claude_session.stack import (
    Stack,
    StackError,
    StackSettings,
    StackStatus,
    new_stack,
    open_stack,
    proxy_session,
)

Command = Callable[[list[str], Context], int]

USAGE = """\
claude-session [OPTIONS] [CLAUDE_COMMAND...]
claude-session [OPTIONS] -- CLAUDE_ARGS...
claude-session up|down|status|current|doctor|report|sessions|rate|retention|demo|experiment [...]"""

DESCRIPTION = """\
Tag every Claude Code request with a session (id, type, prompt version, name),
so Phoenix can compare cost, tokens and latency per workflow and prompt version.

With a prompt, runs `claude -p PROMPT` once in the session. With `--`, passes the
rest to `claude` unchanged. With --shell (or nothing), starts your shell with the
session active. The session travels as request headers: two terminals can hold
different sessions on one proxy at the same time.

The Claude Code run, in a one-off and as `claude` in the shell: $CLAUDE_SESSION_CLAUDE,
else `claude` on your PATH, else the pinned copy scripts/install put in .tools/."""

EPILOG = """\
stack commands:
  up [--offline] ...   start Phoenix and the patched proxy (offline: with the fake upstream)
  down                 stop everything `up` started
  status               what runs where, and the active proxy-wide session
  current              the session of this terminal and the proxy-wide one
  doctor               check proxy, Phoenix, OTLP and the session on the last span
  report ...           compare cost, tokens and latency per prompt version or type
  sessions ...         list recent sessions
  rate [ID] --score N  rate a session 0-10 (and/or --label, --note); shown in Phoenix's Sessions tab
  retention --days N   make Phoenix delete the project's traces older than N days
  demo [--keep]        offline demo: start a private stack, run two prompt versions
  experiment ...       init|run|status|report|demo: prompt variants on tasks, controlled, to a verdict
  (each takes --help)

examples:
  claude-session -t code-review -v v2 -n auth-module "Review the auth module"
  claude-session -t debugging -v v1 --shell
  claude-session -t debugging -v v2 --check "pytest -q" "Fix the failing test"
  claude-session -t ci-pipeline --id build-1234 --proxy-wide
  claude-session --reset"""


def _session_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="claude-session",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-t",
        "--type",
        help="session type (code-review, debugging, documentation, testing, "
        "refactoring, architecture, learning, general; or your own). Default: general",
    )
    parser.add_argument("-v", "--version", help="prompt version (v1, v2, v3...). Default: v1")
    parser.add_argument(
        "-n",
        "--name",
        help="optional descriptive name, any language, at most 100 characters, "
        "e.g. async-refactor or 'auth module ü'",
    )
    parser.add_argument(
        "-s", "--shell", action="store_true", help="interactive shell with the session active"
    )
    parser.add_argument(
        "-r",
        "--reset",
        action="store_true",
        help="reset to the default session: clear the proxy-wide session metadata",
    )
    parser.add_argument("--id", dest="session_id", help="use this session id instead of a generated one")
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--user",
        help="who you are on the spans (session.user): an email address or login name. Default: "
        "$CLAUDE_SESSION_USER, else `git config user.email`",
    )
    who.add_argument(
        "--no-user",
        action="store_true",
        help="send no user (as does CLAUDE_SESSION_USER set to nothing)",
    )
    parser.add_argument(
        "--proxy-wide",
        action="store_true",
        help="set the session on the running proxy itself (no restart) for clients that cannot "
        "send headers and for CI; stays, across proxy restarts, until --reset",
    )
    parser.add_argument(
        "--check",
        metavar="CMD",
        help="after Claude Code (or the shell) exits, run CMD with `sh -c` here and record its "
        "outcome on the session in Phoenix (`check`: pass on exit 0, else fail)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="CLAUDE_COMMAND",
        help="a prompt for `claude -p`, or `-- ARGS` passed to claude unchanged",
    )
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        ctx = Context.from_environ(environ)
        if args and args[0] in SUBCOMMANDS:
            return SUBCOMMANDS[args[0]](args[1:], ctx)
        return run_session(args, ctx)
    except ClaudeSessionError as err:
        print(f"claude-session: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def run_session(argv: list[str], ctx: Context) -> int:
    parser = _session_parser()
    passthrough = "--" in argv
    if passthrough:
        split = argv.index("--")
        options, command = argv[:split], argv[split + 1 :]
        args = parser.parse_args(options)
        if args.command:
            raise UsageError("put the prompt after `--` or before it, not both")
    else:
        args = parser.parse_args(argv)
        command = args.command
    if args.reset:
        if (
            args.type
            or args.version
            or args.name
            or args.shell
            or command
            or args.proxy_wide
            or args.check
            or args.user
        ):
            raise UsageError("--reset takes no other option")
        return reset_proxy_wide(ctx)
    if args.proxy_wide:
        if args.shell or command or args.check is not None:
            raise UsageError("--proxy-wide sets the proxy's session; run claude or a shell afterwards")
        if args.user is not None:
            raise UsageError("--user goes with each request's headers, not with --proxy-wide")
        return set_proxy_wide(ctx, launcher.Session.new(args.type, args.version, args.name, args.session_id))
    user = resolve_user(args.user, args.no_user, ctx.environ)
    session = launcher.Session.new(args.type, args.version, args.name, args.session_id, user)
    if args.shell and command:
        raise UsageError("--shell takes no command; run it inside the shell")
    if args.check is not None and not args.check.strip():
        raise UsageError("--check: give a command, e.g. --check 'pytest -q'")
    claude_argv = (
        launcher.claude_argv(launcher.find_claude(ctx.environ), command, passthrough) if command else None
    )
    request = SessionRequest(session, claude_argv, check=args.check, ask_rating=claude_argv is None)
    return run.run_session(request, ctx.state, ctx.environ).exit_code


def set_proxy_wide(ctx: Context, session: launcher.Session) -> int:
    """The guide's original mode: the proxy itself carries the session until --reset (no restart)."""
    stack = _running_stack(ctx)
    proxy_session.set_proxy_wide(stack, session.as_metadata())
    print(
        f"proxy-wide session {session.id} ({session.label()}) is active for every client "
        "until `claude-session --reset`"
    )
    return 0


def reset_proxy_wide(ctx: Context) -> int:
    stack = open_stack(ctx.state, ctx.environ)
    active = proxy_session.active(stack) if stack else None
    if stack is None or not active:
        print("no proxy-wide session is active; nothing to reset")
        if launcher.current_from_env(ctx.environ):
            print("(this terminal's own session ends when you leave its shell: `exit`)")
        return 0
    proxy_session.reset_proxy_wide(stack)
    print(
        f"proxy-wide session {active.get('session_id')} cleared; "
        "requests are tagged only by their own headers"
    )
    return 0


def _running_stack(ctx: Context) -> Stack:
    stack = open_stack(ctx.state, ctx.environ)
    if stack is None:
        raise StackError("the proxy is not running; start the stack with `claude-session up`")
    return stack


def _proxy_wide_now(stack: Stack | None) -> dict[str, Any] | None:
    """The proxy-wide session the running proxy applies (None when it does not answer)."""
    if stack is None:
        return None
    try:
        return proxy_session.active(stack)
    except StackError:
        return None


def cmd_up(argv: list[str], ctx: Context) -> int:
    parser = Parser(
        prog="claude-session up", description="Start Phoenix and the patched LiteLLM proxy on 127.0.0.1."
    )
    defaults = StackSettings.from_env(ctx.environ)
    parser.add_argument(
        "--offline",
        action="store_true",
        default=defaults.offline,
        help="use the bundled fake Anthropic upstream (no API key, no network)",
    )
    parser.add_argument("--proxy-port", type=int, default=defaults.proxy_port)
    parser.add_argument("--phoenix-port", type=int, default=defaults.phoenix_port)
    parser.add_argument("--phoenix-grpc-port", type=int, default=defaults.phoenix_grpc_port)
    parser.add_argument(
        "--upstream-port",
        type=int,
        default=defaults.upstream_port,
        help="port of the fake upstream (--offline)",
    )
    parser.add_argument(
        "--phoenix-url",
        default=defaults.phoenix_url,
        help="use a Phoenix already running there instead of starting one",
    )
    parser.add_argument("--project", default=defaults.project, help="Phoenix project for the spans")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="proxy worker processes")
    parser.add_argument(
        "--prices",
        default=defaults.prices_file,
        metavar="FILE",
        help="YAML prices for models the bundled price maps lack (both LiteLLM and Phoenix use them)",
    )
    parser.add_argument(
        "--docker",
        action="store_true",
        help="run Phoenix and the proxy as containers (docker compose --profile phoenix)",
    )
    parser.add_argument(
        "--phoenix-auth",
        action="store_true",
        help="start Phoenix with authentication on; its secrets and the stack's API key are kept "
        "mode 0600 in the state directory",
    )
    parser.add_argument(
        "--phoenix-api-key-file",
        default=defaults.phoenix_api_key_file,
        metavar="FILE",
        help="with --phoenix-url: a 0600 file holding that Phoenix's API key (default: $PHOENIX_API_KEY)",
    )
    database = parser.add_mutually_exclusive_group()
    database.add_argument(
        "--postgres",
        action="store_true",
        help="keep Phoenix's data in a private PostgreSQL cluster in the state directory "
        "(Debian's server, on 127.0.0.1; its data survives `down`) instead of SQLite",
    )
    database.add_argument(
        "--database",
        metavar="URL",
        default=ctx.environ.get("CLAUDE_SESSION_DATABASE_URL") or None,
        help="keep Phoenix's data in this existing PostgreSQL server: postgresql://USER@HOST:PORT/DB "
        "(the password from $PGPASSWORD; or the whole URL in $CLAUDE_SESSION_DATABASE_URL, "
        "which keeps it out of the process list). Stored mode 0600 in the state directory",
    )
    parser.add_argument("--postgres-port", type=int, default=0, help="port of the --postgres cluster")
    args = parser.parse_args(argv)
    if args.phoenix_auth and args.docker:
        raise UsageError(
            "--phoenix-auth is for the local stack: with --docker, authentication is on by default"
        )
    if args.phoenix_auth and args.phoenix_url:
        raise UsageError("--phoenix-auth starts a local Phoenix: not with --phoenix-url")
    if args.phoenix_api_key_file and not args.phoenix_url:
        raise UsageError("--phoenix-api-key-file goes with --phoenix-url (--phoenix-auth makes its own key)")
    key_file = str(Path(args.phoenix_api_key_file).resolve()) if args.phoenix_api_key_file else None
    settings = defaults.replace(
        proxy_port=args.proxy_port,
        phoenix_port=args.phoenix_port,
        phoenix_grpc_port=args.phoenix_grpc_port,
        upstream_port=args.upstream_port,
        offline=args.offline,
        phoenix_url=args.phoenix_url,
        project=args.project,
        workers=args.workers,
        prices_file=str(Path(args.prices).resolve()) if args.prices else None,
        docker=args.docker,
        phoenix_auth=args.phoenix_auth,
        phoenix_api_key_file=key_file,
    )
    settings = _with_database(settings, args.postgres, args.database, args.postgres_port, ctx)
    settings = new_stack(settings, ctx.state, ctx.environ).up()
    print(f"proxy    {settings.proxy_url}  (upstream: {settings.upstream_url})")
    print(f"phoenix  {settings.phoenix_base}  (project: {settings.project})")
    if settings.database:
        where = "private cluster" if settings.database == "postgres" else settings.database
        port = f" on 127.0.0.1:{settings.postgres_port}" if settings.database == "postgres" else ""
        print(f"database PostgreSQL, {where}{port}")
    if settings.phoenix_api_key_file:
        print(f"phoenix API key in {settings.phoenix_api_key_file}")
    print('next: claude-session -t code-review -v v1 "your prompt"')
    return 0


def _with_database(
    settings: StackSettings, private: bool, url: str | None, port: int, ctx: Context
) -> StackSettings:
    """`up --postgres` / `--database URL`: where Phoenix keeps its data. An existing server's URL
    is written 0600 in the state directory; the settings (stack.json) keep it redacted."""
    from claude_session.stack import postgres

    if not (private or url):
        return settings
    if settings.docker or settings.phoenix_url:
        raise UsageError(
            "--postgres and --database configure a local Phoenix: not with --docker or --phoenix-url"
        )
    if private:
        return settings.replace(database="postgres", postgres_port=port)
    assert url is not None
    url = postgres.with_password(url, ctx.environ.get("PGPASSWORD"))
    postgres.check_url(url)
    ctx.state.ensure()
    postgres.write_secret(postgres.url_file(ctx.state), url)
    return settings.replace(database=postgres.redact_url(url))


def cmd_down(argv: list[str], ctx: Context) -> int:
    Parser(prog="claude-session down", description="Stop what `up` started.").parse_args(argv)
    stack = open_stack(ctx.state, ctx.environ)
    stale = stack.stale() if stack else {}
    stopped = stack.down() if stack else []
    for name, pid in stale.items():
        print(
            f"{name}: its pid file names pid {pid}, which is not the process `up` started "
            "(the machine restarted?); left alone, pid file removed"
        )
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def cmd_status(argv: list[str], ctx: Context) -> int:
    parser = Parser(prog="claude-session status", description="What runs where.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    from claude_session.cli import status_extras  # DuckDB: imported only when status runs

    stack = open_stack(ctx.state, ctx.environ)
    status = stack.status() if stack else StackStatus(ctx.state, None)
    if args.json:
        waiting = spool_files.summary(ctx.state.spool)
        spool = {"files": waiting.files, "spans": waiting.spans, "bytes": waiting.size}
        report = {**status.as_json(), "proxy_session": _proxy_wide_now(stack)}
        report["report_cache"] = status_extras.report_cache(ctx)
        if status.healthy:
            report["phoenix_retention"] = status_extras.retention(ctx)
        print(json.dumps({**report, "spool": {"dir": str(ctx.state.spool), **spool}}, indent=2))
        return 0
    if not status.components:
        print(f"no stack recorded in {ctx.state.root}; start one with `claude-session up`")
        print("report cache: " + status_extras.describe_cache(ctx))
        return 1
    for name, component in status.components.items():
        mark = "up" if component.healthy else "DOWN"
        print(f"{name:9} {mark:5} {component.url}  ({component.where()})")
    session = _proxy_wide_now(stack)
    print("proxy-wide session: " + (_describe(session) if session else "none"))
    print("span spool: " + spool_files.describe(ctx.state.spool))
    print("report cache: " + status_extras.describe_cache(ctx))
    if status.healthy:
        print("Phoenix retention: " + status_extras.retention(ctx))
    return 0 if status.healthy else 1


def cmd_current(argv: list[str], ctx: Context) -> int:
    Parser(
        prog="claude-session current", description="The session of this terminal and the proxy-wide one."
    ).parse_args(argv)
    mine = launcher.current_from_env(ctx.environ)
    print("this terminal: " + (_describe(mine) if mine else "no session (not inside claude-session --shell)"))
    proxy_wide = _proxy_wide_now(open_stack(ctx.state, ctx.environ))
    print("proxy-wide:    " + (_describe(proxy_wide) if proxy_wide else "none"))
    return 0


def _describe(session: Mapping[str, Any]) -> str:
    parts = [
        session.get("session_id", "?"),
        f"type={session.get('session_type', '-')}",
        f"version={session.get('prompt_version', '-')}",
    ]
    if session.get("session_name"):
        parts.append(f"name={session['session_name']}")
    return " ".join(parts)


def _lazy(module: str, function: str = "main") -> Command:
    """Import heavier commands only when used, so the launcher starts fast."""

    def run(argv: list[str], ctx: Context) -> int:
        mod = importlib.import_module(f"claude_session.cli.{module}")
        return int(getattr(mod, function)(argv, ctx))

    return run


def cmd_experiment(argv: list[str], ctx: Context) -> int:
    """`experiment init|run|status` (cli/experiment.py); `report` and `demo` have their own modules."""
    module = {"report": "experiment_report", "demo": "experiment_demo"}.get(argv[0] if argv else "")
    if module is None:
        return _lazy("experiment")(argv, ctx)
    return _lazy(module)(argv[1:], ctx)


SUBCOMMANDS: dict[str, Command] = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "current": cmd_current,
    "doctor": _lazy("doctor"),
    "report": _lazy("report"),
    "sessions": _lazy("report", "sessions_main"),
    "rate": _lazy("rate"),
    "retention": _lazy("retention"),
    "demo": _lazy("demo"),
    "experiment": cmd_experiment,
}


if __name__ == "__main__":
    sys.exit(main())
