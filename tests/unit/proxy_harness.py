"""The patched LiteLLM proxy in this process, its spans in memory: fast tests of what it logs.

Each part is the one the local stack runs (`claude-session up --offline`), set up the same way:

- Environment: `stack.proxy_env.proxy_env` for an offline stack whose upstream is the fake,
  made the whole of `os.environ` while the harness runs (the caller's is restored on exit).
  The caller's PHOENIX_*, CLAUDE_SESSION_*, ANTHROPIC_*, LITELLM_* and OTEL_* variables are
  left out of it, so a developer's shell cannot change what the tests see.
- Configuration: `proxy.config.render` written to the state directory and handed to the app
  the way `litellm --config FILE` does (`proxy_server.save_worker_config`); the app's lifespan
  loads it (model list, `arize_phoenix` callback, master key) exactly as in a proxy worker.
- App: `litellm.proxy.proxy_server.app`, with patch 0003's middleware (installed at LiteLLM's
  import, built at the worker's start: see `proxy.middleware.install`), driven by Starlette's
  TestClient, which runs the lifespan and serves requests in one portal thread.
- Upstream: the fake Anthropic app served by uvicorn in a thread on 127.0.0.1 and a free port
  (`fake_upstream.threaded`): LiteLLM sends upstream through its own aiohttp/httpx clients,
  which have no clean hook for an ASGI transport.
- Spans: the `arize_phoenix` callback is LiteLLM's `ArizePhoenixLogger`; every patched span
  attribute is set in its methods. When the proxy loads its config, LiteLLM's callback factory
  (`_init_custom_logger_compatible_class`) reuses an `ArizePhoenixLogger` named
  "arize_phoenix" that is already in `litellm_logging._in_memory_loggers` instead of building
  one with an OTLP exporter. The harness registers one there first, built from the same
  `get_arize_phoenix_config()` but with the `tracer_provider` argument LiteLLM's OpenTelemetry
  logger offers as its testing injection point: a TracerProvider whose SimpleSpanProcessor
  writes to OpenTelemetry's InMemorySpanExporter. The one difference from a worker: that
  provider serves every Phoenix project (its resource names the stack's project), where the
  stock logger keeps one provider per project. After start-up the harness checks that the
  proxy's callback is its logger, and PHOENIX_COLLECTOR_HTTP_ENDPOINT points at a port nobody
  listens on, so a span can never reach a developer's own Phoenix.

It lives with the tests, not in the package: it writes the process environment, which only
the package's edges may touch (tests/unit/test_stack_settings.py).

One harness at a time per process (LiteLLM's proxy is module state; one after the other is
fine, each runs the app's lifespan again); exit stops the fake's thread and the portal thread,
restores os.environ, the cached proxy settings and LiteLLM's callback lists.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from claude_session.proxy import config as proxy_config
from claude_session.proxy.metadata import proxy_wide_store
from claude_session.proxy.settings import proxy_settings
from claude_session.stack.ports import free_port
from claude_session.stack.proxy_env import proxy_env
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from claude_session.testing.errors import HarnessError
from claude_session.testing.fake_upstream import FakeUpstream, create_app, fake_of
from claude_session.testing.fake_upstream.threaded import serve_in_thread

PROJECT = "inproc"
# The fake's `[[fault:pause]]` hold: long enough to tell the first token from the last.
PAUSE_SECONDS = 0.3
# Spans are logged after the reply, in LiteLLM's background logging; this bounds the wait.
SPAN_WAIT_SECONDS = 10.0
# Variables of the caller's environment that would change the proxy's behaviour.
_CALLER_PREFIXES = ("PHOENIX_", "CLAUDE_SESSION_", "ANTHROPIC_", "LITELLM_", "OTEL_")
_CALLBACK_NAME = "arize_phoenix"

SpanMatch = Callable[[ReadableSpan], bool]


@dataclass(frozen=True)
class InProcessProxy:
    """The running harness: a client for the proxy app and the spans it exported."""

    client: TestClient
    exporter: InMemorySpanExporter
    upstream: FakeUpstream
    master_key: str
    project: str
    upstream_url: str

    def auth(self) -> dict[str, str]:
        """The proxy key header, as the launcher sends it."""
        return {"x-litellm-api-key": self.master_key}

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def wait_for_spans(self, match: SpanMatch, count: int) -> list[ReadableSpan]:
        """At least `count` finished spans for which `match` holds (logging runs after the reply)."""
        deadline = time.monotonic() + SPAN_WAIT_SECONDS
        while True:
            exported = self.spans()
            found = [span for span in exported if match(span)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"expected {count} matching spans; {len(found)} of the {len(exported)} exported match"
                )
            time.sleep(0.01)


@contextlib.contextmanager
def running_proxy(workdir: Path, prices_file: Path | None = None) -> Iterator[InProcessProxy]:
    """The patched proxy app in this process, against the fake upstream, spans in memory.

    `workdir`: its state directory (master key, config, proxy-wide session file).
    `prices_file`: CLAUDE_SESSION_PRICES, as `claude-session up --prices FILE` passes it.
    """
    saved_env = dict(os.environ)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": PROJECT}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(pause_seconds=PAUSE_SECONDS)
    port = free_port()
    try:
        with serve_in_thread(app, port) as upstream_url:
            state = StatePaths(workdir)
            key = master_key(state) or ""
            settings = StackSettings(
                offline=True,
                project=PROJECT,
                upstream_port=port,
                phoenix_port=free_port(),  # nobody listens there: no span leaves this process
                prices_file=str(prices_file) if prices_file else None,
            )
            base = {k: v for k, v in saved_env.items() if not k.startswith(_CALLER_PREFIXES)}
            env = proxy_env(settings, key, None, base, False, proxy_session_file=state.proxy_session)
            os.environ.clear()
            os.environ.update(env)
            _forget_proxy_settings()
            server_key = bool(env.get("ANTHROPIC_API_KEY"))  # as LocalStack decides it
            state.proxy_config.write_text(proxy_config.render(settings.upstream_url, server_key))
            with _litellm_proxy(state.proxy_config, provider) as (proxy_app, check_started):
                with TestClient(proxy_app, raise_server_exceptions=False) as client:  # runs the lifespan
                    check_started()
                    yield InProcessProxy(client, exporter, fake_of(app), key, PROJECT, upstream_url)
    finally:
        provider.shutdown()
        os.environ.clear()
        os.environ.update(saved_env)
        _forget_proxy_settings()


def _forget_proxy_settings() -> None:
    """The proxy reads its environment once per process (functools.cache): read it again."""
    proxy_settings.cache_clear()
    proxy_wide_store.cache_clear()


@contextlib.contextmanager
def _litellm_proxy(config_file: Path, provider: TracerProvider) -> Iterator[tuple[Any, Callable[[], None]]]:
    """LiteLLM's proxy app, to load `config_file` at start-up with the in-memory span logger,
    and the check to run once it has started.

    Imported here, not at the top: LiteLLM reads LITELLM_LOCAL_MODEL_COST_MAP when first
    imported (otherwise it fetches the price map from the network, retrying in a thread).
    """
    litellm = importlib.import_module("litellm")
    proxy_server = importlib.import_module("litellm.proxy.proxy_server")
    logging_module = importlib.import_module("litellm.litellm_core_utils.litellm_logging")
    arize = importlib.import_module("litellm.integrations.arize.arize_phoenix")
    otel = importlib.import_module("litellm.integrations.opentelemetry")

    app = proxy_server.app
    # Starlette builds the middleware stack on the app's first event and keeps it; rebuilt, it
    # holds this harness's settings (an earlier harness in this process built it for its own).
    app.middleware_stack = None
    phoenix = arize.ArizePhoenixLogger.get_arize_phoenix_config()
    logger = arize.ArizePhoenixLogger(
        config=otel.OpenTelemetryConfig(
            exporter=phoenix.protocol, endpoint=phoenix.endpoint, headers=phoenix.otlp_auth_headers
        ),
        callback_name=_CALLBACK_NAME,
        tracer_provider=provider,
    )
    loggers: list[Any] = logging_module._in_memory_loggers
    if any(isinstance(known, arize.ArizePhoenixLogger) for known in loggers):
        raise HarnessError("LiteLLM already has an arize_phoenix logger in this process")
    saved_callbacks = _callback_lists(litellm)
    loggers.append(logger)
    proxy_server.save_worker_config(config=str(config_file))  # as `litellm --config FILE`
    try:
        yield app, lambda: _check_logger(litellm, logger)
    finally:
        app.middleware_stack = None  # nothing built with this harness's settings stays behind
        loggers.remove(logger)
        for name, value in saved_callbacks.items():
            setattr(litellm, name, value)


def _callback_lists(litellm: Any) -> dict[str, list[Any]]:
    """Copies of LiteLLM's callback lists, which loading a proxy config fills."""
    return {
        name: list(value)
        for name in dir(litellm)
        if name.endswith(("callback", "callbacks")) and isinstance(value := getattr(litellm, name), list)
    }


def _check_logger(litellm: Any, logger: object) -> None:
    callbacks: Sequence[object] = litellm.callbacks
    if not any(callback is logger for callback in callbacks):
        raise HarnessError("the proxy's arize_phoenix callback is not the in-memory logger")
