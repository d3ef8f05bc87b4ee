"""Session metadata for logging: the request's session merged with the proxy-wide defaults.

Called (through overlay/litellm/litellm_core_utils/session_metadata.py) from LiteLLM's
`get_standard_logging_metadata`, so every logging integration sees the same requester_metadata.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from claude_session.proxy.proxy_wide import ProxyWideStore
from claude_session.proxy.settings import proxy_settings


@functools.cache
def proxy_wide_store() -> ProxyWideStore:
    """This process's view of the proxy-wide session file (shared by every worker)."""
    return ProxyWideStore(proxy_settings().proxy_session_file)


# The proxy-wide session as it was when the request being served arrived (see pinned_defaults).
_pinned: ContextVar[Mapping[str, str] | None] = ContextVar("claude_session_proxy_defaults", default=None)


def proxy_defaults() -> Mapping[str, str]:
    """The proxy-wide session: the one pinned for the request being served, else read now."""
    pinned = _pinned.get()
    return pinned if pinned is not None else _read_defaults()


def _read_defaults() -> Mapping[str, str]:
    """The one set with `--proxy-wide` (the file, stat'ed on each call), else the guide's
    PHOENIX_SESSION_* read once at start."""
    return proxy_wide_store().get() or proxy_settings().session_defaults


@contextlib.contextmanager
def pinned_defaults() -> Iterator[None]:
    """Read the proxy-wide session once, when a request arrives, for all of that request.

    Its logging (the metadata merge, the span attributes) runs when the reply has ended, in
    tasks and threads that inherit this context: a request in flight during a switch keeps
    the session it was sent in, and the file is stat'ed once per request instead of twice.
    """
    token = _pinned.set(_read_defaults())
    try:
        yield
    finally:
        _pinned.reset(token)


def merge_requester_metadata(
    tagged: object, from_body: object, *, defaults: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """requester_metadata = the body's metadata, then the request's session, then the proxy defaults.

    Stock LiteLLM kept only one of the first two; keeping both means the client's own
    metadata (Claude Code's user_id) survives next to the session fields.
    `defaults`: the proxy-wide session; None means this process's (`proxy_defaults()`).
    """
    merged: dict[str, Any] = {}
    if isinstance(from_body, Mapping):
        merged.update(from_body)
    if isinstance(tagged, Mapping):
        merged.update(tagged)
    for key, value in (proxy_defaults() if defaults is None else defaults).items():
        merged.setdefault(key, value)
    return merged or None
