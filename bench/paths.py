"""The paths under test, each from the load generator to the fake upstream.

* ``direct``: straight to the fake upstream (the floor);
* ``stock``: stock LiteLLM at the pinned version with LiteLLM's own defaults (one worker,
  access log, default span batching): the argv and environment `claude-session up` builds
  (`proxy_argv`, `proxy_env`), less the shipped tuning, with the unpatched copy first on
  PYTHONPATH;
* ``patched-untuned``: the same for the patched code (the "before tuning" figures);
* ``patched``: the proxy started by `LocalStack.up()`, exactly as `claude-session up` with
  an external Phoenix (CLAUDE_SESSION_PHOENIX_URL) and the fake upstream as its Anthropic
  URL (CLAUDE_SESSION_ANTHROPIC_URL); ``patched-untagged`` is the same proxy measured
  without session headers.

Every proxy binds 127.0.0.1 on a free port, exports to the bench's Phoenix (own project
each) and is stopped by PID when its `with` block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.services import Services
from claude_session.proxy import config as proxy_config
from claude_session.stack import procs
from claude_session.stack.local import PROXY_START_TIMEOUT, LocalStack, proxy_argv
from claude_session.stack.proxy_env import PROXY_TUNING_ENV, proxy_env
from claude_session.stack.settings import DEFAULT_WORKERS, StackSettings
from claude_session.stack.state import StatePaths, master_key

DIRECT = "direct"
STOCK = "stock"
UNTUNED = "patched-untuned"
PATCHED = "patched"
UNTAGGED = "patched-untagged"  # measured on the patched path's proxy
PATHS = (DIRECT, STOCK, UNTUNED, PATCHED)


@dataclass(frozen=True)
class Proxy:
    name: str
    port: int
    pid: int
    key: str  # the proxy's master key (x-litellm-api-key)
    project: str  # the Phoenix project its spans go to
    workers: int
    state: StatePaths


def variants(path: str) -> dict[str, bool]:
    """The workloads measured on `path`: name -> tagged (session headers sent)."""
    return {PATCHED: True, UNTAGGED: False} if path == PATCHED else {path: True}


def _settings(services: Services, name: str, workers: int) -> StackSettings:
    """A proxy on a free port, in front of the fake upstream, exporting to the bench's Phoenix."""
    return StackSettings(
        proxy_port=procs.free_port(),
        phoenix_url=services.phoenix_base,
        anthropic_url=services.upstream_url,
        project=f"bench-{name}",
        workers=workers,
    )


@contextmanager
def shipped_proxy(services: Services, name: str = PATCHED) -> Iterator[Proxy]:
    """The patched proxy as `claude-session up` starts it: `LocalStack.up()`, its argv, env and defaults."""
    state = StatePaths(services.state.root.parent / name)
    local = LocalStack(_settings(services, name, DEFAULT_WORKERS), state, services.environ)
    try:
        settings = local.up()  # Phoenix is external and the upstream online: only the proxy starts
        pid = procs.read_pid(state.pid_file("proxy"))
        if pid is None:
            raise RuntimeError(f"the {name} proxy is not running; see {state.log_file('proxy')}")
        key = master_key(state, create=False) or ""
        yield Proxy(name, settings.proxy_port, pid, key, settings.project, settings.workers, state)
    finally:
        local.down()


@contextmanager
def plain_proxy(services: Services, name: str, pythonpath: Path | None) -> Iterator[Proxy]:
    """LiteLLM with its own defaults: `up`'s argv and env less the tuning, one worker, same config.

    With `pythonpath` (the stock copy) first on the path this is stock LiteLLM; without,
    the patched code with none of the distribution's run-time tuning.
    """
    state = StatePaths(services.state.root.parent / name)
    state.ensure()
    settings = _settings(services, name, workers=1)
    key = master_key(state) or ""
    env = proxy_env(settings, key, None, services.environ, inherit_session_env=False)
    for variable in PROXY_TUNING_ENV:
        if services.environ.get(variable) is None:
            env.pop(variable, None)  # LiteLLM's and OpenTelemetry's own defaults
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    state.proxy_config.write_text(
        proxy_config.render(settings.upstream_url, bool(env.get("ANTHROPIC_API_KEY")))
    )
    pid_file, log_file = state.pid_file("proxy"), state.log_file("proxy")
    try:
        pid = procs.start(
            f"litellm proxy ({name})", proxy_argv(settings, state.proxy_config), env, pid_file, log_file
        )
        procs.wait_healthy(
            f"the {name} proxy", settings.proxy_url + "/health/liveliness", pid, log_file, PROXY_START_TIMEOUT
        )
        yield Proxy(name, settings.proxy_port, pid, key, settings.project, settings.workers, state)
    finally:
        procs.stop(pid_file)


@contextmanager
def path_under_test(services: Services, path: str, stock_copy: Path | None) -> Iterator[Proxy | None]:
    """The proxy of `path`, running for the `with` block (None for direct)."""
    if path == DIRECT:
        yield None
    elif path == STOCK:
        if stock_copy is None:
            raise ValueError("the stock path needs the stock LiteLLM copy")
        with plain_proxy(services, STOCK, stock_copy) as proxy:
            yield proxy
    elif path == UNTUNED:
        with plain_proxy(services, UNTUNED, None) as proxy:
            yield proxy
    elif path == PATCHED:
        with shipped_proxy(services) as proxy:
            yield proxy
    else:
        raise ValueError(f"unknown path {path!r}; known: {', '.join(PATHS)}")
