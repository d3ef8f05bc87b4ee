"""What `status` reports of a stack, whichever implementation runs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths


@dataclass(frozen=True)
class ComponentStatus:
    url: str
    healthy: bool
    pid: int | None = None
    external: bool = False
    container: str | None = None  # compose: the container's name
    state: str | None = None  # compose: the container's state

    def where(self) -> str:
        if self.container:
            return f"container {self.container}, {self.state}"
        if self.external:
            return "external"
        return f"pid {self.pid}" if self.pid else "no pid"


@dataclass(frozen=True)
class StackStatus:
    state: StatePaths
    settings: StackSettings | None
    components: dict[str, ComponentStatus] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return bool(self.components) and all(c.healthy for c in self.components.values())

    def as_json(self) -> dict[str, Any]:
        report: dict[str, Any] = {"state_dir": str(self.state.root), "components": {}}
        if self.settings is None:
            return report
        report["settings"] = self.settings.as_dict()
        report["docker"] = self.settings.docker
        for name, component in self.components.items():
            entry: dict[str, Any] = {
                "pid": component.pid,
                "url": component.url,
                "healthy": component.healthy,
                "external": component.external,
            }
            if component.container:
                entry["container"] = component.container
                entry["state"] = component.state
            report["components"][name] = entry
        return report
