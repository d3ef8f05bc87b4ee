"""The load generator: a Claude Code-shaped workload and a small asyncio HTTP/1.1 client.

The client runs in its own process (`python -m bench.load`, spec on stdin, figures on
stdout) so that its CPU is never counted as the proxy's; `run_client` starts it and
waits. One keep-alive connection per concurrent client; latency is request sent to last
byte and time to first byte is to the first streamed body byte, both client side.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from bench import REPO
from claude_session.core import fields

MODEL = "claude-sonnet-4-5"
MESSAGES_PATH = "/v1/messages?beta=true"
CLIENT_TIMEOUT_S = 120.0  # one request
RUN_TIMEOUT_S = 1800.0  # one client process


@dataclass(frozen=True)
class Workload:
    """What the client sends: to which port and path, with which headers."""

    port: int
    path: str
    headers: dict[str, str]
    tagged: bool  # per-client session headers (x-session-tracking-*)
    run_id: str


class ClientResult(TypedDict):
    latency_ms: list[float]
    ttfb_ms: list[float]
    statuses: dict[str, int]
    errors: int
    first_errors: list[str]
    wall_s: float
    client_cpu_s: float


def workload_for(port: int, proxy_key: str | None, tagged: bool, run_id: str) -> Workload:
    """The workload for one path: the proxy key in x-litellm-api-key when there is a proxy."""
    headers = {fields.PROXY_KEY_HEADER: proxy_key} if proxy_key else {}
    return Workload(port=port, path=MESSAGES_PATH, headers=headers, tagged=tagged, run_id=run_id)


def claude_code_body(stream: bool = True) -> dict[str, Any]:
    """A request shaped like Claude Code's: ~40 KB of system prompt, tools and history."""
    guidance = (
        "You are an interactive CLI tool that helps users with software engineering tasks. "
        "Use the instructions below and the tools available to you to assist the user. "
        "Be concise, direct and to the point; explain non-trivial commands before running them. "
    )
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": guidance * 60, "cache_control": {"type": "ephemeral"}},
    ]
    tools = [
        {
            "name": f"Tool{i:02d}",
            "description": (
                f"Tool number {i}. Reads, searches or edits files in the working tree; "
                "returns the result as text. Use it when the task needs it, never speculatively. "
            )
            * 6,
            "input_schema": {
                "type": "object",
                "properties": {
                    name: {"type": "string", "description": f"The {name} to operate on, absolute."}
                    for name in ("path", "pattern", "old_string", "new_string", "glob", "command")
                },
                "required": ["path"],
                "additionalProperties": False,
                "$schema": "http://json-schema.org/draft-07/schema#",
            },
        }
        for i in range(16)
    ]
    history: list[dict[str, Any]] = []
    for turn in range(4):
        history.append({"role": "user", "content": [{"type": "text", "text": f"Step {turn}: " + "x " * 300}]})
        history.append({"role": "assistant", "content": [{"type": "text", "text": "Done. " * 60}]})
    history.append({"role": "user", "content": [{"type": "text", "text": "Summarise the change."}]})
    return {
        "model": MODEL,
        "max_tokens": 32000,
        "stream": stream,
        "temperature": 1,
        "system": system,
        "tools": tools,
        "messages": history,
        "metadata": {"user_id": json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": "b"})},
    }


def request_bytes(workload: Workload, body: bytes, client: int) -> bytes:
    """The whole HTTP/1.1 request of concurrent client number `client`, as Claude Code sends it."""
    headers = {
        "host": f"127.0.0.1:{workload.port}",
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "user-agent": "claude-cli/2.1.331 (external, cli)",
        "x-app": "cli",
        "x-api-key": "sk-ant-bench-client-key",
        fields.CLAUDE_CODE_HEADER: f"9df06ec6-91f5-4cef-8196-{client:012d}",
        **workload.headers,
    }
    if workload.tagged:
        headers.update(
            fields.to_headers(
                {
                    "session_id": f"bench-{workload.run_id}-w{client}",
                    "session_type": "benchmark",
                    "prompt_version": "v1",
                    "session_name": f"proxy bench {client}",
                }
            )
        )
    head = f"POST {workload.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"content-length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[int, float, float, bool, bool]:
    """Send one request, read the whole response: (status, ttfb s, latency s, complete, keep-alive)."""
    start = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    keep = b"connection: close" not in lowered
    first: float | None = None
    body = bytearray()
    if b"transfer-encoding: chunked" in lowered:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunk = await reader.readexactly(size + 2)
            if first is None:
                first = time.perf_counter()
            body += chunk[:-2]
    else:
        match = re.search(rb"content-length:\s*(\d+)", lowered)
        body += await reader.readexactly(int(match.group(1)) if match else 0)
        first = time.perf_counter()
    end = time.perf_counter()
    complete = status == 200 and b"message_stop" in body
    return status, (first or end) - start, end - start, complete, keep


async def drive(workload: Workload, body: bytes, concurrency: int, total: int) -> ClientResult:
    """`total` requests from `concurrency` keep-alive clients, each sending its next when done."""
    latencies: list[float] = []
    ttfbs: list[float] = []
    statuses: dict[str, int] = {}
    failures: list[str] = []
    issued = 0

    async def client(index: int) -> None:
        nonlocal issued
        payload = request_bytes(workload, body, index)
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while issued < total:
            issued += 1
            try:
                if conn is None:
                    conn = await asyncio.open_connection("127.0.0.1", workload.port)
                status, ttfb, latency, complete, keep = await asyncio.wait_for(
                    _exchange(*conn, payload), timeout=CLIENT_TIMEOUT_S
                )
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if complete:
                latencies.append(latency * 1000)
                ttfbs.append(ttfb * 1000)
            else:
                failures.append(f"status {status} or incomplete stream")
            if not keep:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    cpu_start = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return ClientResult(
        latency_ms=latencies,
        ttfb_ms=ttfbs,
        statuses=statuses,
        errors=len(failures),
        first_errors=failures[:3],
        wall_s=time.perf_counter() - started,
        client_cpu_s=time.process_time() - cpu_start,
    )


def run_client(workload: Workload, body: bytes, concurrency: int, total: int) -> ClientResult:
    """Run the load generator in its own process and return its figures."""
    spec = {"workload": asdict(workload), "body": body.decode(), "concurrency": concurrency, "total": total}
    done = subprocess.run(
        [sys.executable, "-m", "bench.load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=RUN_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: ClientResult = json.loads(done.stdout)
    return result


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, ClientResult]], ClientResult]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with LiteLLM's proxy extra
        return asyncio.run
    runner: Callable[[Coroutine[Any, Any, ClientResult]], ClientResult] = uvloop.run
    return runner


def main() -> int:
    """`python -m bench.load`: read a spec (JSON) on stdin, drive the load, print figures (JSON)."""
    spec = json.loads(sys.stdin.read())
    workload = Workload(**spec["workload"])
    coroutine = drive(workload, spec["body"].encode(), int(spec["concurrency"]), int(spec["total"]))
    print(json.dumps(_event_loop_runner()(coroutine)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
