"""The command line behind scripts/claude-session."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from claude_session import compose_stack, launcher, stack
from claude_session.errors import UserError
from claude_session.state import StatePaths, paths, read_json, write_json

USAGE = """\
claude-session [OPTIONS] [CLAUDE_COMMAND...]
claude-session [OPTIONS] -- CLAUDE_ARGS...
claude-session up|down|status|current|doctor|report|sessions|demo [...]"""

DESCRIPTION = """\
Tag every Claude Code request with a session (id, type, prompt version, name),
so Phoenix can compare cost, tokens and latency per workflow and prompt version.

With a prompt, runs `claude -p PROMPT` once in the session. With `--`, passes the
rest to `claude` unchanged. With --shell (or nothing), starts your shell with the
session active. The session travels as request headers: two terminals can hold
different sessions on one proxy at the same time."""

EPILOG = """\
stack commands:
  up [--offline] ...   start Phoenix and the patched proxy (offline: with the fake upstream)
  down                 stop everything `up` started
  status               what runs where, and the active proxy-wide session
  current              the session of this terminal and the proxy-wide one
  doctor               check proxy, Phoenix, OTLP and the session on the last span
  report ...           compare cost, tokens and latency per prompt version or type
  sessions ...         list recent sessions
  demo [--keep]        offline demo: start a private stack, run two prompt versions
  (each takes --help)

examples:
  claude-session -t code-review -v v2 -n auth-module "Review the auth module"
  claude-session -t debugging -v v1 --shell
  claude-session -t ci-pipeline --id build-1234 --proxy-wide
  claude-session --reset"""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 (no usage dump)."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)", exit_code=2)


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
    parser.add_argument("-n", "--name", help="optional descriptive name, e.g. async-refactor")
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
    parser.add_argument(
        "--proxy-wide",
        action="store_true",
        help="set the session on the proxy itself (restarts it) for clients that cannot "
        "send headers and for CI; stays until --reset",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="CLAUDE_COMMAND",
        help="a prompt for `claude -p`, or `-- ARGS` passed to claude unchanged",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in SUBCOMMANDS:
            return SUBCOMMANDS[args[0]](args[1:])
        return run_session(args)
    except UserError as err:
        print(f"claude-session: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def run_session(argv: list[str]) -> int:
    parser = _session_parser()
    passthrough = "--" in argv
    if passthrough:
        split = argv.index("--")
        options, command = argv[:split], argv[split + 1 :]
        args = parser.parse_args(options)
        if args.command:
            raise UserError("put the prompt after `--` or before it, not both", exit_code=2)
    else:
        args = parser.parse_args(argv)
        command = args.command
    state = paths()
    if args.reset:
        if args.type or args.version or args.name or args.shell or command or args.proxy_wide:
            raise UserError("--reset takes no other option", exit_code=2)
        return reset_proxy_wide(state)
    session = launcher.Session.new(args.type, args.version, args.name, args.session_id)
    if args.proxy_wide:
        if args.shell or command:
            raise UserError(
                "--proxy-wide sets the proxy's session; run claude or a shell afterwards", exit_code=2
            )
        return set_proxy_wide(state, session)
    if args.shell and command:
        raise UserError("--shell takes no command; run it inside the shell", exit_code=2)
    claude = launcher.find_claude() if command else None
    settings = launcher.require_running_stack(state)
    env = launcher.session_env(session, settings, state)
    if command:
        assert claude is not None
        print(f"claude-session: {session.id} ({session.label()})", file=sys.stderr)
        return launcher.run_one_off(env, launcher.claude_argv(claude, command, passthrough))
    return launcher.run_shell(env, session)


def set_proxy_wide(state: StatePaths, session: launcher.Session) -> int:
    """The guide's original mode: the proxy itself carries the session until --reset."""
    data = session.as_metadata()
    print(f"claude-session: restarting the proxy with proxy-wide session {session.id}...", file=sys.stderr)
    if _docker_mode(state):  # Docker mode (issue: Docker)
        compose_stack.restart_proxy(data, state)
    else:
        stack.restart_proxy(state, data, inherit_session_env=False)
    write_json(state.proxy_session, data)
    print(
        f"proxy-wide session {session.id} ({session.label()}) is active for every client "
        "until `claude-session --reset`"
    )
    return 0


def reset_proxy_wide(state: StatePaths) -> int:
    active = read_json(state.proxy_session)
    if not active:
        print("no proxy-wide session is active; nothing to reset")
        if launcher.current_from_env():
            print("(this terminal's own session ends when you leave its shell: `exit`)")
        return 0
    print("claude-session: restarting the proxy without a proxy-wide session...", file=sys.stderr)
    if _docker_mode(state):  # Docker mode (issue: Docker)
        compose_stack.restart_proxy(None, state)
    else:
        stack.restart_proxy(state, None, inherit_session_env=False)
    state.proxy_session.unlink(missing_ok=True)
    print(
        f"proxy-wide session {active.get('session_id')} cleared; "
        "requests are tagged only by their own headers"
    )
    return 0


def _docker_mode(state: StatePaths) -> bool:
    """Whether the recorded stack runs under docker compose (`up --docker`, issue: Docker)."""
    recorded = stack.StackSettings.recorded(state)
    return bool(recorded and recorded.docker)


def cmd_up(argv: list[str]) -> int:
    parser = Parser(
        prog="claude-session up", description="Start Phoenix and the patched LiteLLM proxy on 127.0.0.1."
    )
    defaults = stack.StackSettings.from_env()
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
    # Docker mode (issue: Docker): the same stack as containers, from compose.yaml.
    parser.add_argument(
        "--docker",
        action="store_true",
        help="run Phoenix and the proxy as containers (docker compose --profile phoenix)",
    )
    args = parser.parse_args(argv)
    settings = stack.StackSettings(
        proxy_port=args.proxy_port,
        phoenix_port=args.phoenix_port,
        phoenix_grpc_port=args.phoenix_grpc_port,
        upstream_port=args.upstream_port,
        offline=args.offline,
        phoenix_url=args.phoenix_url,
        project=args.project,
        workers=args.workers,
        prices_file=str(Path(args.prices).resolve()) if args.prices else None,
    )
    state = paths()
    if args.docker:  # Docker mode (issue: Docker)
        compose_stack.up(settings, state)
    else:
        stack.up(settings, state)
    settings = stack.StackSettings.recorded(state) or settings
    print(f"proxy    {settings.proxy_url}  (upstream: {settings.upstream_url})")
    print(f"phoenix  {settings.phoenix_base}  (project: {settings.project})")
    print('next: claude-session -t code-review -v v1 "your prompt"')
    return 0


def cmd_down(argv: list[str]) -> int:
    Parser(prog="claude-session down", description="Stop what `up` started.").parse_args(argv)
    state = paths()
    # Docker mode (issue: Docker)
    stopped = compose_stack.down(state) if _docker_mode(state) else stack.down(state)
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def cmd_status(argv: list[str]) -> int:
    parser = Parser(prog="claude-session status", description="What runs where.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    state = paths()
    # Docker mode (issue: Docker)
    report = compose_stack.status(state) if _docker_mode(state) else stack.status(state)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not report["components"]:
        print(f"no stack recorded in {report['state_dir']}; start one with `claude-session up`")
        return 1
    healthy = True
    for name, info in report["components"].items():
        mark = "up" if info["healthy"] else "DOWN"
        healthy &= info["healthy"]
        pid = "external" if info["external"] else f"pid {info['pid']}" if info["pid"] else "no pid"
        if info.get("container"):  # Docker mode (issue: Docker)
            pid = f"container {info['container']}, {info['state']}"
        print(f"{name:9} {mark:5} {info['url']}  ({pid})")
    session = report.get("proxy_session")
    print("proxy-wide session: " + (_describe(session) if session else "none"))
    return 0 if healthy else 1


def cmd_current(argv: list[str]) -> int:
    Parser(
        prog="claude-session current", description="The session of this terminal and the proxy-wide one."
    ).parse_args(argv)
    mine = launcher.current_from_env()
    print("this terminal: " + (_describe(mine) if mine else "no session (not inside claude-session --shell)"))
    proxy_wide = read_json(paths().proxy_session)
    print("proxy-wide:    " + (_describe(proxy_wide) if proxy_wide else "none"))
    return 0


def _describe(session: dict[str, str]) -> str:
    parts = [
        session.get("session_id", "?"),
        f"type={session.get('session_type', '-')}",
        f"version={session.get('prompt_version', '-')}",
    ]
    if session.get("session_name"):
        parts.append(f"name={session['session_name']}")
    return " ".join(parts)


def _lazy(module: str, function: str = "main") -> Callable[[list[str]], int]:
    """Import heavier commands only when used, so the launcher starts fast."""

    def run(argv: list[str]) -> int:
        mod = __import__(f"claude_session.{module}", fromlist=[function])
        return int(getattr(mod, function)(argv))

    return run


SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "current": cmd_current,
    "doctor": _lazy("doctor"),
    "report": _lazy("report"),
    "sessions": _lazy("report", "sessions_main"),
    "demo": _lazy("demo"),
}


if __name__ == "__main__":
    sys.exit(main())
