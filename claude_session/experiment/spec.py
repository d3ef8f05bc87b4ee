"""The experiment file (TOML): what it may say, read and checked before anything starts.

Every problem is one line naming the file, the place (`tasks[2] (fix-add)`) and what is wrong;
the first one found is raised as ExperimentFileError (exit 2). Paths in the file are relative
to the file's own directory.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_session.core import fields
from claude_session.experiment.errors import ExperimentFileError
from claude_session.experiment.records import TaskInfo

TOP_KEYS = frozenset(
    {"name", "tasks", "variants", "repetitions", "concurrency", "budget_usd", "max_budget_usd", "seed"}
    | {"max_infra_retries"}
)
TASK_KEYS = frozenset({"id", "repository", "commit", "prompt", "check", "timeout", "max_turns"})
VARIANT_KEYS = frozenset(
    {"name", "baseline", "claude_md", "claude_md_file", "append_system_prompt"}
    | {"append_system_prompt_file", "model", "settings", "agents", "extra_args", "env"}
)
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_INFRA_RETRIES = 2
# Task ids name worktree directories and the session's name: a slug keeps both plain.
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Task:
    id: str
    repository: Path  # absolute
    commit: str | None  # the full sha; None for a plain directory (copied as it is)
    prompt: str
    check: str
    timeout_s: float
    max_turns: int | None = None

    def info(self) -> TaskInfo:
        return TaskInfo(self.id, self.prompt, str(self.repository), self.commit or "")


@dataclass(frozen=True)
class Variant:
    name: str  # session.prompt_version
    baseline: bool = False
    claude_md: str | None = None
    append_system_prompt: str | None = None
    model: str | None = None
    settings: str | None = None  # JSON text, for --settings
    agents: str | None = None  # JSON text, for --agents
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    name: str  # session.type and session.experiment
    path: Path
    tasks: tuple[Task, ...]
    variants: tuple[Variant, ...]
    repetitions: int
    concurrency: int
    budget_usd: float
    seed: int
    max_infra_retries: int
    max_budget_usd: float | None = None

    @property
    def baseline(self) -> Variant:
        return next((v for v in self.variants if v.baseline), self.variants[0])

    def fingerprint(self) -> str:
        """What the runs' results depend on: the tasks (but their timeouts), the variants and the
        seed. Repetitions, concurrency and the budget may change between runs of one experiment."""
        tasks = [(t.id, str(t.repository), t.commit, t.prompt, t.check, t.max_turns) for t in self.tasks]
        variants = [
            (
                v.name,
                v.baseline,
                v.claude_md,
                v.append_system_prompt,
                v.model,
                v.settings,
                v.agents,
                list(v.extra_args),
                sorted(v.env.items()),
            )
            for v in self.variants
        ]
        canonical = json.dumps([tasks, variants, self.seed], separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def task(self, task_id: str) -> Task:
        return next(t for t in self.tasks if t.id == task_id)

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


class _Reader:
    """Typed access to one table of the file; every complaint names the file and the place."""

    def __init__(self, path: Path, where: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
        self.path, self.where, self.table = path, where, table
        unknown = sorted(set(table) - allowed)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")

    def fail(self, problem: str) -> Any:
        place = f"{self.where}: " if self.where else ""
        raise ExperimentFileError(f"{self.path}: {place}{problem}")

    def _get(self, key: str, kinds: tuple[type, ...], kind_name: str, required: bool) -> Any:
        if key not in self.table:
            return self.fail(f"missing key {key!r}") if required else None
        value = self.table[key]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.fail(f"{key} must be {kind_name}, not {type(value).__name__}")
        return value

    def text(self, key: str, required: bool = False) -> str | None:
        value = self._get(key, (str,), "a string", required)
        if value is not None and not value.strip():
            self.fail(f"{key} must not be empty")
        return value  # type: ignore[no-any-return]

    def integer(self, key: str, default: int | None, minimum: int) -> int | None:
        value = self._get(key, (int,), "an integer", False)
        if value is None:
            return default
        if value < minimum:
            self.fail(f"{key} must be at least {minimum} (got {value})")
        return int(value)

    def number(self, key: str, required: bool = False) -> float | None:
        value = self._get(key, (int, float), "a number", required)
        if value is None:
            return None
        if not value > 0:
            self.fail(f"{key} must be a positive number (got {value})")
        return float(value)

    def flag(self, key: str) -> bool:
        return bool(self._get(key, (bool,), "true or false", False))

    def text_or_file(self, key: str, file_key: str) -> str | None:
        text, file_name = self.text(key), self.text(file_key)
        if text is not None and file_name is not None:
            self.fail(f"give {key} or {file_key}, not both")
        return self.read(file_key, file_name) if file_name is not None else text

    def read(self, key: str, name: str) -> str:
        target = self.path.parent / name
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            return self.fail(f"{key}: cannot read {target} ({getattr(err, 'strerror', None) or err})")  # type: ignore[no-any-return]

    def json_text(self, key: str) -> str | None:
        """JSON given inline (starting with `{` or `[`) or as a file name; returned compact."""
        value = self.text(key)
        if value is None:
            return None
        raw = value if value.lstrip()[:1] in ("{", "[") else self.read(key, value)
        try:
            return json.dumps(json.loads(raw), separators=(",", ":"))
        except ValueError as err:
            return self.fail(f"{key} is not valid JSON ({err})")  # type: ignore[no-any-return]


def load(path: Path) -> Experiment:
    """Read and check an experiment file; ExperimentFileError (exit 2) on the first problem."""
    path = path.expanduser().resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ExperimentFileError(
            f"{path}: cannot read the experiment file ({err.strerror or err})"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ExperimentFileError(f"{path}: not valid TOML ({err})") from None
    top = _Reader(path, "", data, TOP_KEYS)
    name = top.text("name", required=True)
    assert name is not None
    try:
        fields.validate(fields.SESSION_TYPE, name)
        fields.validate(fields.SESSION_EXPERIMENT, name)
    except fields.InvalidSessionValue as err:
        top.fail(f"name: {str(err).split(': ', 1)[1]}")
    tasks = _tasks(path, top)
    variants = _variants(path, top)
    repetitions = top.integer("repetitions", None, 1)
    if repetitions is None:
        top.fail("missing key 'repetitions'")
    budget = top.number("budget_usd", required=True)
    assert repetitions is not None and budget is not None
    return Experiment(
        name=name,
        path=path,
        tasks=tasks,
        variants=variants,
        repetitions=repetitions,
        concurrency=top.integer("concurrency", 1, 1) or 1,
        budget_usd=budget,
        seed=top.integer("seed", 0, -(2**63)) or 0,
        max_infra_retries=top.integer("max_infra_retries", DEFAULT_INFRA_RETRIES, 0) or 0,
        max_budget_usd=top.number("max_budget_usd"),
    )


def _tables(top: _Reader, key: str) -> list[Mapping[str, Any]]:
    items = top.table.get(key)
    if items is None:
        top.fail(f"missing [[{key}]] tables")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        top.fail(f"{key} must be one or more [[{key}]] tables")
    return items  # type: ignore[return-value]


def _tasks(path: Path, top: _Reader) -> tuple[Task, ...]:
    tasks: list[Task] = []
    for index, table in enumerate(_tables(top, "tasks"), start=1):
        label = str(table.get("id")) if isinstance(table.get("id"), str) else "?"
        reader = _Reader(path, f"tasks[{index}] ({label})", table, TASK_KEYS)
        task_id = reader.text("id", required=True)
        assert task_id is not None
        if not _TASK_ID.fullmatch(task_id):
            reader.fail(
                "id: only letters, digits, '.', '_' and '-', starting with a letter or digit (at most 64)"
            )
        if any(t.id == task_id for t in tasks):
            reader.fail(f"duplicate task id {task_id!r}")
        repository = _repository(reader)
        prompt, check = reader.text("prompt", required=True), reader.text("check", required=True)
        assert prompt is not None and check is not None
        timeout = reader.number("timeout")
        tasks.append(
            Task(
                id=task_id,
                repository=repository,
                commit=_commit(reader, repository),
                prompt=prompt,
                check=check,
                timeout_s=timeout if timeout is not None else DEFAULT_TIMEOUT_S,
                max_turns=reader.integer("max_turns", None, 1),
            )
        )
    return tuple(tasks)


def _repository(reader: _Reader) -> Path:
    name = reader.text("repository", required=True)
    assert name is not None
    repository = (reader.path.parent / name).expanduser().resolve()
    if not repository.is_dir():
        reader.fail(f"repository {repository} does not exist (or is not a directory)")
    return repository


def is_git_checkout(directory: Path) -> bool:
    """Whether `directory` is the top of a git working tree (a subdirectory is copied instead)."""
    found = _git(directory, "rev-parse", "--show-toplevel")
    return found is not None and Path(found).resolve() == directory.resolve()


def _commit(reader: _Reader, repository: Path) -> str | None:
    commit = reader.text("commit")
    if not is_git_checkout(repository):
        if commit is not None:
            reader.fail(f"commit given, but {repository} is not a git repository")
        return None
    if commit is None:
        return reader.fail("missing key 'commit' (the sha to start every run from)")  # type: ignore[no-any-return]
    sha = _git(repository, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{commit}}")
    if sha is None:
        reader.fail(f"commit {commit!r} is not in {repository}")
    return sha


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _variants(path: Path, top: _Reader) -> tuple[Variant, ...]:
    variants: list[Variant] = []
    for index, table in enumerate(_tables(top, "variants"), start=1):
        label = str(table.get("name")) if isinstance(table.get("name"), str) else "?"
        reader = _Reader(path, f"variants[{index}] ({label})", table, VARIANT_KEYS)
        name = reader.text("name", required=True)
        assert name is not None
        try:
            fields.validate(fields.PROMPT_VERSION, name)
        except fields.InvalidSessionValue as err:
            reader.fail(f"name: {str(err).split(': ', 1)[1]}")
        if any(v.name == name for v in variants):
            reader.fail(f"duplicate variant name {name!r}")
        variants.append(
            Variant(
                name=name,
                baseline=reader.flag("baseline"),
                claude_md=reader.text_or_file("claude_md", "claude_md_file"),
                append_system_prompt=reader.text_or_file("append_system_prompt", "append_system_prompt_file"),
                model=reader.text("model"),
                settings=reader.json_text("settings"),
                agents=reader.json_text("agents"),
                extra_args=_extra_args(reader),
                env=_env(reader),
            )
        )
    baselines = [v.name for v in variants if v.baseline]
    if len(baselines) > 1:
        top.fail(f"more than one baseline variant: {', '.join(baselines)}")
    return tuple(variants)


# Flags the runner sets itself, or that would change the conditions under a run's feet.
_RESERVED_ARGS = {
    "-p": "the runner passes the task's prompt",
    "--print": "the runner passes the task's prompt",
    "--output-format": "the runner reads Claude Code's JSON result",
    "--session-id": "the runner chooses each run's session id",
    "--resume": "every run starts a new conversation",
    "--continue": "every run starts a new conversation",
    "--fallback-model": "it silently switches models on overload",
}


def _extra_args(reader: _Reader) -> tuple[str, ...]:
    value = reader.table.get("extra_args", [])
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        reader.fail("extra_args must be a list of strings")
    for arg in value:
        flag = arg.split("=", 1)[0]
        if flag in _RESERVED_ARGS:
            reader.fail(f"extra_args: {flag} is not allowed ({_RESERVED_ARGS[flag]})")
    return tuple(value)


def _env(reader: _Reader) -> dict[str, str]:
    value = reader.table.get("env", {})
    if not isinstance(value, dict):
        reader.fail('env must be a table of NAME = "value"')
    for key, item in value.items():
        if not _ENV_NAME.fullmatch(key) or not isinstance(item, str):
            reader.fail(f"env: {key!r} must be a variable name with a string value")
    return dict(value)
