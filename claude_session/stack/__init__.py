"""The running stack (Phoenix, the patched proxy, the offline upstream), behind one interface.

Two implementations: `LocalStack` (background processes, claude_session.stack.local) and
`ComposeStack` (containers, claude_session.stack.compose). `up` chooses from its flags;
every later command opens the one recorded in the state directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from claude_session.stack.errors import StackError
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths
from claude_session.stack.status import StackStatus


class Stack(Protocol):
    settings: StackSettings
    state: StatePaths

    def up(self) -> StackSettings:
        """Start what is not running; return the settings the stack runs with."""
        ...

    def down(self) -> list[str]:
        """Stop what this state directory started; return the names of what was stopped."""
        ...

    def status(self) -> StackStatus: ...

    def stale(self) -> dict[str, int]:
        """Components whose pid file names a running process that is not the one started
        (after a reboot or a crash); `down` leaves those processes alone."""
        ...

    def restart_proxy(self) -> None:
        """Restart (or recreate) the proxy; its proxy-wide session carries over."""
        ...


def new_stack(settings: StackSettings, state: StatePaths, environ: Mapping[str, str]) -> Stack:
    """The implementation `settings` asks for (`docker`), for `up`."""
    if settings.docker:
        from claude_session.stack.compose import ComposeStack

        return ComposeStack(settings, state, environ)
    from claude_session.stack.local import LocalStack

    return LocalStack(settings, state, environ)


def open_stack(state: StatePaths, environ: Mapping[str, str]) -> Stack | None:
    """The stack recorded in `state` by `up`, or None when none was started."""
    settings = StackSettings.recorded(state)
    return None if settings is None else new_stack(settings, state, environ)


__all__ = ["Stack", "StackError", "StackSettings", "StackStatus", "StatePaths", "new_stack", "open_stack"]
