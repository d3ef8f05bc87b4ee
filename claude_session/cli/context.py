"""What every command starts from: the environment, read once at the edge, and the state directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from claude_session.stack.state import StatePaths, paths


@dataclass(frozen=True)
class Context:
    environ: Mapping[str, str] = field(repr=False)
    state: StatePaths

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Context:
        """The one place the command line reads the process environment."""
        env = dict(os.environ if environ is None else environ)
        return cls(environ=env, state=paths(env))
