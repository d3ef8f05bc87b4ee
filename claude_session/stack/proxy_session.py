"""The proxy-wide session: the guide's mode, for clients that cannot send headers and for CI.

Set and cleared on the running proxy through its own endpoint (the master key required),
without a restart: every worker applies it from its next request, and requests in flight
are not cut. The proxy keeps it in a file of the state directory (a volume for Docker), so
it stays the proxy's default across restarts until `--reset`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from claude_session.core import fields
from claude_session.proxy.proxy_wide import PROXY_SESSION_ROUTE
from claude_session.stack import Stack
from claude_session.stack.errors import StackError
from claude_session.stack.state import master_key

TIMEOUT = 10.0


def _call(stack: Stack, method: str, session: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    key = master_key(stack.state, create=False)
    if not key:
        raise StackError("no proxy key yet: start the stack with `claude-session up`")
    body = json.dumps(dict(session)).encode() if session is not None else None
    request = urllib.request.Request(
        stack.settings.proxy_url + PROXY_SESSION_ROUTE,
        data=body,
        method=method,
        headers={fields.PROXY_KEY_HEADER: key, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            payload = json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:200]
        raise StackError(f"the proxy refused the proxy-wide session ({err.code}): {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise StackError(
            f"the proxy is not answering at {stack.settings.proxy_url} ({err}); "
            "start it with `claude-session up`"
        ) from None
    session_now = payload.get("session") if isinstance(payload, dict) else None
    return session_now if isinstance(session_now, dict) else None


def active(stack: Stack) -> dict[str, Any] | None:
    """The proxy-wide session the running proxy applies, or None."""
    return _call(stack, "GET")


def set_proxy_wide(stack: Stack, session: Mapping[str, str]) -> None:
    _call(stack, "PUT", session)


def reset_proxy_wide(stack: Stack) -> None:
    _call(stack, "DELETE")
