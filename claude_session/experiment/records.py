"""What one finished run of an experiment leaves behind: the contract between the runner
(which writes it to the ledger) and the statistics, the report and the Phoenix upload
(which read it). Plain data, JSON-friendly, stdlib only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

# passed / failed: the check command's verdict on the run's worktree (exit 0 = passed).
# infra: the harness or the upstream failed (429/5xx/529 on the run's spans, Claude Code exiting
# on an API error, a harness timeout) and the retries ran out; never counted as the variant's failure.
RunStatus = Literal["passed", "failed", "infra"]


@dataclass(frozen=True)
class TaskInfo:
    """A task as the dataset shows it."""

    id: str
    prompt: str
    repository: str
    commit: str


@dataclass(frozen=True)
class RunRecord:
    """One planned run (task x variant x repetition), once it is over."""

    experiment: str
    task: str
    variant: str
    repetition: int  # 1-based, per (task, variant)
    attempt: int  # 1 + the infrastructure retries it took
    session_id: str  # session.id on its spans
    claude_session_id: str  # the uuid given to `claude --session-id` (x-claude-code-session-id)
    status: RunStatus
    cost_usd: float  # from the run's spans (llm.cost.total), as the report counts it
    cost_main_usd: float
    cost_subagent_usd: float
    cost_rest_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    requests: int
    turns: int  # Claude Code's num_turns
    duration_s: float  # Claude Code's own wall time
    started_at: str  # ISO 8601 UTC
    ended_at: str
    result_text: str = ""  # Claude Code's final result, at most 2,000 characters
    check_exit_code: int | None = None

    @property
    def counted(self) -> bool:
        """Whether the run counts for its variant (an infrastructure failure never does)."""
        return self.status != "infra"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
