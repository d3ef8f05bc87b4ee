"""What every command starts from: the environment, read once at the edge, and the state directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from claude_session.stack.settings import StackSettings
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


@dataclass(frozen=True)
class PhoenixTarget:
    url: str
    project: str
    api_key: str | None = field(default=None, repr=False)


def phoenix_target(url: str | None, project: str | None, ctx: Context) -> PhoenixTarget:
    """The Phoenix and project of the recorded stack (or the defaults), overridden by options."""
    settings = StackSettings.recorded(ctx.state) or StackSettings.from_env(ctx.environ)
    key = settings.phoenix_api_key(ctx.environ)  # the recorded key file, else $PHOENIX_API_KEY
    return PhoenixTarget((url or settings.phoenix_base).rstrip("/"), project or settings.project, key)
