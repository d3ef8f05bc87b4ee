"""Helpers for the fault and load tests: raw HTTP, process trees, spans read back in bulk."""

from __future__ import annotations

import ipaddress
import socket
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psutil

from claude_session.core import fields
from claude_session.stack import procs
from tests.support import MODEL, Stack

MESSAGE_BODY = (
    b'{"model":"' + MODEL.encode() + b'","max_tokens":16,"messages":[{"role":"user","content":"fault test"}]}'
)


def raw_request(port: int, headers: bytes, body: bytes = MESSAGE_BODY, timeout: float = 60.0) -> bytes:
    """POST /v1/messages with exactly these header bytes; returns what the server sent (connection: close)."""
    request = (
        b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        + headers
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may refuse (and close) before reading everything; read its answer
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def status_of(answer: bytes) -> int | None:
    """The status code of a raw HTTP answer, None when the server sent nothing."""
    if not answer.startswith(b"HTTP/1."):
        return None
    return int(answer[9:12])


def header_line(name: str, value: bytes) -> bytes:
    return name.encode() + b": " + value + b"\r\n"


def key_header(stack: Stack) -> bytes:
    return header_line(fields.PROXY_KEY_HEADER, stack.master_key.encode())


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss_mb(pid: int) -> float:
    total = 0
    for proc in process_tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def listening_addresses(pid: int) -> dict[int, set[str]]:
    """port -> the local addresses the process tree of `pid` listens on (TCP)."""
    pids = {proc.pid for proc in process_tree(pid)}
    found: dict[int, set[str]] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            found.setdefault(conn.laddr.port, set()).add(conn.laddr.ip)
    return found


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback (a dual-stack socket bound to 127.0.0.1)."""
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def pid_of(stack: Stack, name: str) -> int:
    pid = procs.read_pid(stack.state.pid_file(name))
    assert pid is not None, f"{name} is not running"
    return pid


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def span_count(stack: Stack, start_time: str, condition: str) -> int:
    """How many spans of the stack's project started after `start_time` match a span filter."""
    project_id = stack.phoenix.project_id(stack.project)
    if project_id is None:
        return 0
    query = (
        "query($id: ID!, $start: DateTime!, $cond: String!) { node(id: $id) { ... on Project {"
        " recordCount(timeRange: {start: $start}, filterCondition: $cond) } } }"
    )
    node = stack.phoenix.graphql(query, {"id": project_id, "start": start_time, "cond": condition})["node"]
    return int(node["recordCount"])


def wait_span_count(stack: Stack, start_time: str, condition: str, count: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        seen = span_count(stack, start_time, condition)
        if seen >= count:
            return seen
        time.sleep(1.0)
    return seen


SESSION_COLUMNS: Mapping[str, str] = {
    "span": "name",
    "status": "status_code",
    "id": "session.id",
    "type": "session.type",
    "version": "session.prompt_version",
    "label": "session.name",
    "conversation": "claude_code.session_id",
}


def session_rows(stack: Stack, start_time: str, limit: int = 200_000) -> list[dict[str, Any]]:
    """name, status and session attributes of every span that started after `start_time`."""
    return stack.phoenix.query_spans(stack.project, SESSION_COLUMNS, start_time=start_time, limit=limit)
