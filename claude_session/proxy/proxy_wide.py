"""The proxy-wide session, shared by every worker through one file and changed without a restart.

`claude-session --proxy-wide` / `--reset` call the proxy's own endpoint
(`PROXY_SESSION_ROUTE`, master key required); whichever worker answers writes the file
atomically, and every worker sees the change on its next request (a stat per request, a
read only when the file changed); a request in flight keeps the session it arrived with.
The file lives in the state directory (a volume in the container), so the session
survives a proxy restart until `--reset`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from claude_session.core import fields

PROXY_SESSION_ROUTE = "/claude-session/proxy-session"
_MAX_BODY = 8192

_log = logging.getLogger("LiteLLM")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def validated(session: object) -> dict[str, str]:
    """A whole proxy-wide session: known fields only, each valid, with an id and a type."""
    if not isinstance(session, Mapping):
        raise fields.InvalidSessionValue("the proxy-wide session must be a JSON object")
    unknown = set(session) - fields.SESSION_KEYS
    if unknown:
        raise fields.InvalidSessionValue(f"unknown session fields: {', '.join(sorted(unknown))}")
    checked = {}
    for field in fields.FIELDS:
        value = session.get(field.key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise fields.InvalidSessionValue(f"{field.key}: must be a string")
        checked[field.key] = fields.validate(field, value)
    for required in (fields.SESSION_ID, fields.SESSION_TYPE):
        if required.key not in checked:
            raise fields.InvalidSessionValue(f"{required.key}: required")
    return checked


class ProxyWideStore:
    """The file holding the proxy-wide session; re-read only when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._session: dict[str, str] = {}

    def get(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._session = None, {}
            return {}
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp != self._seen:
            with self._lock:
                self._session = self._load()
                self._seen = stamp
        return self._session

    def _load(self) -> dict[str, str]:
        assert self.path is not None
        try:
            return validated(json.loads(self.path.read_text()))
        except (OSError, ValueError) as err:  # InvalidSessionValue is a ValueError
            _log.warning("claude-session: ignoring the proxy-wide session file %s: %s", self.path, err)
            return {}

    def set(self, session: Mapping[str, str]) -> dict[str, str]:
        if self.path is None:
            raise OSError("this proxy has no proxy-wide session file (CLAUDE_SESSION_PROXY_SESSION_FILE)")
        checked = validated(session)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(checked, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)
        return checked

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class ProxyWideEndpoint:
    """GET / PUT / DELETE `PROXY_SESSION_ROUTE` with the master key; every other request passes."""

    def __init__(self, app: ASGIApp, store: ProxyWideStore, master_key: str | None) -> None:
        self.app = app
        self.store = store
        self.master_key = master_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != PROXY_SESSION_ROUTE:
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope.get("headers", ())):
            await _answer(send, 401, {"error": "the proxy's master key is required (x-litellm-api-key)"})
            return
        method = scope.get("method", "GET")
        try:
            if method == "GET":
                # The worker's pid tells a client (and a test) which worker answered.
                await _answer(send, 200, {"session": self.store.get() or None, "worker": os.getpid()})
            elif method == "PUT":
                body = await _read_body(receive)
                session = self.store.set(json.loads(body or b"null"))
                await _answer(send, 200, {"session": session})
            elif method == "DELETE":
                self.store.clear()
                await _answer(send, 200, {"session": None})
            else:
                await _answer(send, 405, {"error": f"{method} is not allowed here"})
        except ValueError as err:  # bad JSON or an invalid session value
            await _answer(send, 400, {"error": str(err)})
        except OSError as err:
            await _answer(send, 500, {"error": f"cannot store the proxy-wide session: {err}"})

    def _authorized(self, raw_headers: Any) -> bool:
        if not self.master_key:
            return False
        for name, value in raw_headers:
            if name == b"x-litellm-api-key":
                offered = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:]
            else:
                continue
            if secrets.compare_digest(offered, self.master_key.encode()):
                return True
        return False


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise ValueError("the proxy-wide session is too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
