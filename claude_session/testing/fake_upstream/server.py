"""Running the fake as a process: command line, listening socket, uvicorn and signals.

``python -m claude_session.testing.fake_upstream`` lands in :func:`main`. It binds the socket
itself (so ``--port 0`` works and the announced port is the real one), prints
``fake upstream listening on URL`` once uvicorn serves, and exits with status 0 on SIGTERM or
SIGINT, cutting stalled ``timeout`` requests loose so shutdown is immediate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Final

import uvicorn
from starlette.applications import Starlette

from claude_session.testing.fake_upstream.app import FakeUpstream, create_app, fake_of

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8089
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug", "trace")
EXIT_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
# How long an idle keep-alive connection stays open. uvicorn's default (5 s) is shorter than
# the 15 s LiteLLM's aiohttp pool keeps one, so a request sent about 5 s after the last one
# could go out on a connection the fake was closing: LiteLLM then logs a failed attempt (the
# client gets the error, or with proxy retries on, a retry: one request shown as two).
# Anthropic's API, like most servers, outlasts its clients' pools; so does the fake.
KEEP_ALIVE_SECONDS: Final = 120


@dataclass(frozen=True)
class Options:
    """The command line, parsed and checked."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    think_ms: float = 0.0
    reply_words: int = 24
    chunk_words: int = 4
    log_level: str = "warning"


class _Server(uvicorn.Server):
    """uvicorn.Server that also releases stalled requests when asked to exit."""

    def __init__(self, config: uvicorn.Config, fake: FakeUpstream) -> None:
        super().__init__(config)
        self._fake = fake
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.wake_stalled()

    def wake_stalled(self) -> None:
        # Signal handlers run between bytecodes; hop onto the loop thread-safely.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fake.begin_shutdown)

    async def serve_announced(self, sock: socket.socket, url: str) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(self.serve(sockets=[sock]))
        while not self.started and not task.done():
            await asyncio.sleep(0.01)
        if self.started:
            print(f"fake upstream listening on {url}", flush=True)
        await task


def _bind(host: str, port: int) -> socket.socket:
    # Binding here (not in uvicorn) lets --port 0 work and the announced port be the real one.
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    sockname: tuple[str, int] = sock.getsockname()[:2]
    host, port = sockname
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m claude_session.testing.fake_upstream",
        description="Fake Anthropic Messages API server.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--think-ms", type=float, default=0.0, help="delay before the first byte")
    parser.add_argument("--reply-words", type=int, default=24, help="words in a default reply")
    parser.add_argument("--chunk-words", type=int, default=4, help="words per streamed text delta")
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    args = parser.parse_args(argv)
    options = Options(
        host=str(args.host),
        port=int(args.port),
        think_ms=float(args.think_ms),
        reply_words=int(args.reply_words),
        chunk_words=int(args.chunk_words),
        log_level=str(args.log_level),
    )
    if options.think_ms < 0 or options.reply_words < 0 or options.chunk_words < 1:
        parser.error("need --think-ms >= 0, --reply-words >= 0 and --chunk-words >= 1")
    return options


def _install_exit_handlers(server: _Server) -> None:
    def exit_quietly(sig: int, frame: FrameType | None) -> None:
        # uvicorn restores and re-raises the previous handler after shutdown; making that handler
        # ours (instead of the default one) turns SIGTERM/SIGINT into a clean exit status 0.
        server.should_exit = True
        server.wake_stalled()

    for sig in EXIT_SIGNALS:
        signal.signal(sig, exit_quietly)


def uvicorn_config(app: Starlette, options: Options) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=options.log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # Bounds shutdown even if some client holds a connection open.
        timeout_graceful_shutdown=1,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse_args(argv)
    app = create_app(options.think_ms, options.reply_words, options.chunk_words)
    try:
        sock = _bind(options.host, options.port)
    except OSError as exc:
        print(f"fake upstream: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    config = uvicorn_config(app, options)
    server = _Server(config, fake_of(app))
    _install_exit_handlers(server)
    with contextlib.closing(sock), asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(server.serve_announced(sock, _url(sock)))
    return 0
