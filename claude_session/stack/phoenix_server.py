"""`phoenix serve`, with its OTLP/gRPC listener bound to PHOENIX_HOST too.

Phoenix 20.26 binds gRPC to [::] (every interface) whatever PHOENIX_HOST says, so
anyone on the network could write spans into it. The local stack starts Phoenix
through this module, which narrows that one listener to the configured host.
"""

from __future__ import annotations

import sys
from typing import Any

import grpc.aio

_ANY_HOST = "[::]:"


def _bind_grpc_to(host: str) -> None:
    make_server = grpc.aio.server

    def server(*args: Any, **kwargs: Any) -> Any:
        instance = make_server(*args, **kwargs)
        add_insecure, add_secure = instance.add_insecure_port, instance.add_secure_port

        def narrow(address: str) -> str:
            return address.replace(_ANY_HOST, f"{host}:", 1) if address.startswith(_ANY_HOST) else address

        instance.add_insecure_port = lambda address: add_insecure(narrow(address))
        instance.add_secure_port = lambda address, credentials: add_secure(narrow(address), credentials)
        return instance

    grpc.aio.server = server


def main(argv: list[str]) -> int:
    """`python -m claude_session.stack.phoenix_server [--grpc-host HOST] PHOENIX_ARGS...`."""
    host = "127.0.0.1"
    if argv[:1] == ["--grpc-host"] and len(argv) > 1:
        host, argv = argv[1], argv[2:]
    _bind_grpc_to(host)
    from phoenix.server.main import main as phoenix_main

    sys.argv = ["phoenix", *argv]
    phoenix_main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
