"""The fake served by uvicorn in a thread of the calling process, for in-process tests.

For a client in the same process that cannot be handed the ASGI app itself: the LiteLLM
proxy sends upstream through its own HTTP clients, with no clean hook for an ASGI
transport. Bound to 127.0.0.1; on exit the server stops (stalled `timeout` requests are
cut loose), its thread is joined and its socket closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from claude_session.testing.errors import HarnessError
from claude_session.testing.fake_upstream.app import fake_of
from claude_session.testing.fake_upstream.server import DEFAULT_HOST, Options, uvicorn_config

# Generous: on a busy 2-core machine a thread may wait long for its first time slice.
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


@contextlib.contextmanager
def serve_in_thread(app: Starlette, port: int, host: str = DEFAULT_HOST) -> Iterator[str]:
    """Serve `app` (made by create_app) on host:port in a thread; yields its base URL."""
    fake = fake_of(app)
    sock = socket.create_server((host, port))
    server = uvicorn.Server(uvicorn_config(app, Options(host=host, port=port)))
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            loops.append(runner.get_loop())
            runner.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name=f"fake-upstream-{port}", daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise HarnessError(f"the fake upstream did not start on {host}:{port}")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        if loops:
            with contextlib.suppress(RuntimeError):  # the loop already closed: nothing stalls
                loops[0].call_soon_threadsafe(fake.begin_shutdown)
        thread.join(STOP_TIMEOUT_SECONDS)
        sock.close()
        if thread.is_alive():
            raise HarnessError(f"the fake upstream on {host}:{port} did not stop")
