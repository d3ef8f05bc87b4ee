"""What the benchmarks run against: Phoenix and the fake Anthropic upstream, on free 127.0.0.1 ports.

Both are started by claude_session.stack's code (Phoenix through `LocalStack`, bound to
127.0.0.1 with its gRPC listener narrowed too; the upstream with `fake_upstream_argv`),
each with a pid file in a state directory, and stopped by PID: `Started` stops every pid
file it was given, in reverse order, in a `finally`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from claude_session.core import fields
from claude_session.stack import procs
from claude_session.stack.local import UPSTREAM_START_TIMEOUT, LocalStack, fake_upstream_argv
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

# Client-side and session variables of the shell running the bench: none reaches what it starts.
_DROPPED_PREFIXES = ("CLAUDE_SESSION_", "PHOENIX_SESSION", "PHOENIX_COLLECTOR")
_DROPPED = frozenset(
    {
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        "PHOENIX_PROJECT_NAME",
        "PHOENIX_PROMPT_VERSION",
        *(f.env for f in fields.FIELDS),
    }
)


def bench_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every process of the bench starts from: no credential, no user session."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k not in _DROPPED and not k.startswith(_DROPPED_PREFIXES)}
    env["PHOENIX_TELEMETRY_ENABLED"] = "false"
    return env


@dataclass
class Started:
    """Pid files of what a run started; all stopped by PID on leaving the `with` block."""

    pid_files: list[Path] = field(default_factory=list)

    def add(self, pid_file: Path) -> Path:
        self.pid_files.append(pid_file)
        return pid_file

    def stop_all(self) -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second ^C must not skip the stops
        try:
            for pid_file in reversed(self.pid_files):
                procs.stop(pid_file)
        finally:
            signal.signal(signal.SIGINT, previous)

    def __enter__(self) -> Started:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()


def start_phoenix(settings: StackSettings, state: StatePaths, environ: Mapping[str, str]) -> int:
    """Phoenix alone, as `claude-session up` starts it (state.phoenix_dir, settings' ports); its pid."""
    state.ensure()
    LocalStack(settings, state, environ).start_phoenix()
    pid = procs.read_pid(state.pid_file("phoenix"))
    if pid is None:
        raise RuntimeError(f"Phoenix did not stay up; see {state.log_file('phoenix')}")
    return pid


def start_fake_upstream(state: StatePaths, port: int, environ: Mapping[str, str], *options: str) -> int:
    """The bundled fake Anthropic upstream on 127.0.0.1:`port` with `options`; its pid."""
    state.ensure()
    pid_file, log_file = state.pid_file("upstream"), state.log_file("upstream")
    pid = procs.start("fake upstream", fake_upstream_argv(port, *options), environ, pid_file, log_file)
    procs.wait_healthy(
        "the fake upstream", f"http://127.0.0.1:{port}/", pid, log_file, UPSTREAM_START_TIMEOUT
    )
    return pid


@dataclass(frozen=True)
class Services:
    """The proxy bench's shared Phoenix and fake upstream (state in `state`)."""

    state: StatePaths
    phoenix: StackSettings  # its phoenix_base is where every path exports
    upstream_port: int
    environ: dict[str, str]

    @property
    def upstream_url(self) -> str:
        return f"http://127.0.0.1:{self.upstream_port}"

    @property
    def phoenix_base(self) -> str:
        return self.phoenix.phoenix_base

    @property
    def phoenix_pid(self) -> int | None:
        return procs.read_pid(self.state.pid_file("phoenix"))


def start_services(root: Path, started: Started, upstream_options: list[str]) -> Services:
    """The fake upstream and Phoenix under `root`/base; their pid files go to `started` first."""
    state = StatePaths(root / "base")
    environ = bench_environ()
    settings = StackSettings.on_free_ports()
    started.add(state.pid_file("upstream"))
    start_fake_upstream(state, settings.upstream_port, environ, *upstream_options)
    started.add(state.pid_file("phoenix"))
    start_phoenix(settings, state, environ)
    return Services(state, settings, settings.upstream_port, environ)
