"""Everything the stack starts listens on 127.0.0.1 only, Phoenix's OTLP/gRPC port included."""

from __future__ import annotations

import psutil

from tests.support import Stack

LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


def test_every_listener_is_on_loopback(live_stack: Stack) -> None:
    settings = live_stack.settings
    ports = {settings.proxy_port, settings.phoenix_port, settings.phoenix_grpc_port, settings.upstream_port}
    listening = {
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports
    }
    assert {port for _, port in listening} == ports, listening
    assert all(ip in LOOPBACK for ip, _ in listening), listening
