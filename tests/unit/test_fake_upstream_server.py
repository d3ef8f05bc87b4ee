"""The fake upstream as a process: command line, socket, signal handling, and one real run.

All but the last test run in-process. The ``slow`` one starts
``python -m claude_session.testing.fake_upstream`` like the stack and the bench do, and checks
what only a real uvicorn process can show: the announce line, dropped TCP connections, and a
clean exit on SIGTERM while a request is stalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from claude_session.stack.ports import free_port
from claude_session.testing.fake_upstream import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    Options,
    create_app,
    fake_of,
    main,
)
from claude_session.testing.fake_upstream.server import (
    EXIT_SIGNALS,
    KEEP_ALIVE_SECONDS,
    _bind,
    _install_exit_handlers,
    _parse_args,
    _Server,
    _url,
    uvicorn_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-sonnet-4-5-20250929"


def _message(text: str, *, stream: bool = False) -> dict[str, object]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


# --------------------------------------------------------------------------- command line


def test_parse_args_defaults_and_values() -> None:
    assert _parse_args([]) == Options(DEFAULT_HOST, DEFAULT_PORT, 0.0, 24, 4, "warning")
    assert (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 8089)
    argv = ["--host", "0.0.0.0", "--port", "0", "--think-ms", "50", "--reply-words", "3"]
    argv += ["--chunk-words", "1", "--log-level", "info"]
    assert _parse_args(argv) == Options("0.0.0.0", 0, 50.0, 3, 1, "info")


@pytest.mark.parametrize(
    "argv",
    [
        ["--think-ms", "-1"],
        ["--reply-words", "-1"],
        ["--chunk-words", "0"],
        ["--log-level", "loud"],
        ["--nope"],
    ],
)
def test_parse_args_rejects_bad_values(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse_args(argv)
    assert exited.value.code == 2
    assert "python -m claude_session.testing.fake_upstream" in capsys.readouterr().err


# --------------------------------------------------------------------------- socket


def test_bind_port_zero_and_announced_url() -> None:
    with contextlib.closing(_bind("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
        assert port > 0 and sock.get_inheritable()
        assert _url(sock) == f"http://127.0.0.1:{port}"
    try:
        sock6 = _bind("::1", 0)
    except OSError:
        return  # no IPv6 loopback here
    with contextlib.closing(sock6):
        assert _url(sock6) == f"http://[::1]:{sock6.getsockname()[1]}"


def test_main_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert f"fake upstream: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_idle_connections_outlast_litellms_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client must be the one to close an idle connection, as with Anthropic's API: if the
    fake closed first, a request LiteLLM sent just then would fail once and be retried, and
    Phoenix would show it as two requests (a CI run here failed exactly so)."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # importing litellm: no price-map fetch
    from litellm.constants import AIOHTTP_KEEPALIVE_TIMEOUT

    config = uvicorn_config(create_app(), Options())
    assert config.timeout_keep_alive == KEEP_ALIVE_SECONDS > AIOHTTP_KEEPALIVE_TIMEOUT


# --------------------------------------------------------------------------- signals


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in EXIT_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _server() -> _Server:
    app = create_app()
    return _Server(uvicorn.Config(app, lifespan="off"), fake_of(app))


@pytest.mark.usefixtures("restore_signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_exit_signals_stop_the_server_and_release_stalls(sig: signal.Signals) -> None:
    server = _server()
    _install_exit_handlers(server)
    handler = signal.getsignal(sig)
    assert callable(handler) and handler is signal.getsignal(signal.SIGTERM)

    async def run() -> bool:
        server._loop = asyncio.get_running_loop()
        handler(sig, None)
        await asyncio.sleep(0.01)
        return server._fake.shutting_down.is_set()

    assert asyncio.run(run())
    assert server.should_exit


def test_uvicorn_exit_path_also_releases_stalls() -> None:
    server = _server()
    server.wake_stalled()  # before serving: no loop yet, nothing to do

    async def run() -> bool:
        server._loop = asyncio.get_running_loop()
        server.handle_exit(signal.SIGTERM, None)
        await asyncio.sleep(0.01)
        return server._fake.shutting_down.is_set()

    assert asyncio.run(run())
    assert server.should_exit


# --------------------------------------------------------------------------- one real process


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError("fake upstream did not announce itself")
    return proc.stdout.readline().strip()


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Signal the server by PID and reap it; returns (exit code, stderr)."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        # Far below the 300 s the timeout fault stalls for, far above a clean exit.
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


@pytest.mark.slow
def test_real_process_answers_drops_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "claude_session.testing.fake_upstream",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    thread: threading.Thread | None = None
    try:
        assert _read_line(proc, timeout=15) == f"fake upstream listening on {url}"
        with httpx.Client(base_url=url, timeout=5.0) as client:
            assert client.get("/health").json() == {"status": "ok", "service": "fake-anthropic"}
            reply = client.post("/v1/messages", json=_message("hello"))
            assert reply.status_code == 200 and reply.json()["stop_reason"] == "end_turn"

            # drop, streaming: the TCP connection is cut after four events.
            received = bytearray()
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                with client.stream(
                    "POST", "/v1/messages", json=_message("hi [[fault:drop]]", stream=True)
                ) as r:
                    assert r.status_code == 200
                    for chunk in r.iter_raw():
                        received.extend(chunk)
            names = re.findall(r"^event: (\w+)$", received.decode(), re.MULTILINE)
            assert names == ["message_start", "ping", "content_block_start", "content_block_delta"]
            # drop, non-streaming: closed before any response.
            with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
                client.post("/v1/messages", json=_message("hi"), headers={"x-fake-fault": "drop"})
            assert client.get("/health").status_code == 200

        # An idle keep-alive connection is still served after uvicorn's default 5 s. http.client
        # reuses its socket and never retries: a connection the server closed fails the request.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            for pause in (0, 6):
                time.sleep(pause)
                connection.request("GET", "/health")
                response = connection.getresponse()
                assert response.status == 200 and json.loads(response.read())["status"] == "ok"
                assert not response.will_close
        finally:
            connection.close()

        # A request stalled by the timeout fault must not hold up shutdown.
        errors: list[BaseException] = []

        def stalled() -> None:
            try:
                httpx.post(f"{url}/v1/messages", json=_message("[[fault:timeout]]"), timeout=10.0)
            except httpx.HTTPError as exc:
                errors.append(exc)

        thread = threading.Thread(target=stalled)
        thread.start()
        time.sleep(0.3)
        code, err = _stop(proc)
        thread.join(15)
        assert code == 0, err  # exited by itself, not killed by _stop
        # Drops, stalls and errors are all deliberate: none of them may look like a server crash.
        assert "Traceback" not in err and "Exception in ASGI" not in err, err
        # The stalled client was cut loose, not answered and not left to time out.
        assert len(errors) == 1 and not isinstance(errors[0], httpx.TimeoutException), errors
    finally:
        if proc.poll() is None:
            _stop(proc)
        if thread is not None:
            thread.join(5)
