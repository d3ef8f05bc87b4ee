"""The proxy-wide session: the guide's mode, for clients that cannot send headers and for CI.

It is recorded in the state directory (proxy_session.json) and given to the proxy as
PHOENIX_SESSION_*; it stays the proxy's default until `--reset`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claude_session.stack import Stack
from claude_session.stack.state import read_json, write_json


def active(stack: Stack) -> dict[str, Any] | None:
    return read_json(stack.state.proxy_session)


def set_proxy_wide(stack: Stack, session: Mapping[str, str]) -> None:
    stack.restart_proxy(session)
    write_json(stack.state.proxy_session, dict(session))


def reset_proxy_wide(stack: Stack) -> None:
    stack.restart_proxy(None)
    stack.state.proxy_session.unlink(missing_ok=True)
