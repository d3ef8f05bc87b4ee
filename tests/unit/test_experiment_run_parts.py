"""One run's parts: Claude Code's arguments from a variant, what counts as an infrastructure
failure in its JSON result, and the run's worktree (or copy) made and removed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from claude_session.experiment import workspace
from claude_session.experiment.example import make_example_repo
from claude_session.experiment.invocation import ClaudeResult, claude_args
from claude_session.experiment.spec import Task, Variant

TASK = Task("t", Path("/r"), None, "fix it", "true", 60.0, max_turns=7)


def test_a_variant_becomes_claude_codes_flags() -> None:
    variant = Variant(
        "v2",
        model="claude-x",
        append_system_prompt="be brief",
        settings='{"a":1}',
        agents='{"r":{}}',
        extra_args=("--verbose",),
    )
    args = claude_args("claude", TASK, variant, "uuid-1", 0.25)
    assert args[:7] == ["claude", "-p", "fix it", "--output-format", "json", "--session-id", "uuid-1"]
    pairs = dict(zip(args[7:-1:2], args[8::2], strict=False))
    assert pairs == {
        "--permission-mode": "acceptEdits",
        "--model": "claude-x",
        "--append-system-prompt": "be brief",
        "--settings": '{"a":1}',
        "--agents": '{"r":{}}',
        "--max-turns": "7",
        "--max-budget-usd": "0.25",
    }
    assert args[-1] == "--verbose"


def test_a_variants_own_permission_flag_replaces_the_default() -> None:
    args = claude_args("claude", TASK, Variant("v", extra_args=("--permission-mode=plan",)), "u", None)
    assert "acceptEdits" not in args and args[-1] == "--permission-mode=plan"
    assert "--max-budget-usd" not in args


@pytest.mark.parametrize(
    ("output", "timed_out", "infra"),
    [
        ({"is_error": False, "subtype": "success"}, False, None),
        ({"is_error": True, "subtype": "error_max_turns"}, False, None),  # the variant's own failure
        ({"is_error": True, "subtype": "success", "api_error_status": 529}, False, "API error (529)"),
        (
            {"is_error": True, "subtype": "error_during_execution"},
            False,
            "API error (error_during_execution)",
        ),
        ({}, False, "without a JSON result"),
        ({}, True, "harness timeout"),
    ],
)
def test_what_is_an_infrastructure_failure(
    output: dict[str, object], timed_out: bool, infra: str | None
) -> None:
    reason = ClaudeResult(1, timed_out, False, output).infra_reason
    assert reason == infra if infra is None else (reason is not None and infra in reason)


def test_output_tokens_count_every_model() -> None:
    output = {
        "modelUsage": {"a": {"outputTokens": 5}, "b": {"outputTokens": 7}},
        "usage": {"output_tokens": 5},
    }
    assert ClaudeResult(0, False, False, output).output_tokens == 12


def test_a_worktree_is_made_at_the_commit_and_removed_without_a_trace(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit = make_example_repo(repo, os.environ)
    (repo / "calc.py").write_text("changed in the user's checkout\n")  # uncommitted: never seen by a run
    task = Task("t", repo, commit, "p", "true", 60.0)
    space = workspace.create(task, tmp_path / "work" / "run-1")
    assert "return a - b" in (space.tree / "calc.py").read_text()
    assert space.config_dir.is_dir() and list(space.home.iterdir()) == [space.config_dir]
    (space.tree / "new.txt").write_text("x")
    workspace.remove(task, space.root)
    assert not space.root.exists() and not (repo / "new.txt").exists()
    assert (repo / "calc.py").read_text() == "changed in the user's checkout\n"
    listed = subprocess.check_output(["git", "-C", str(repo), "worktree", "list", "--porcelain"], text=True)
    assert listed.count("worktree ") == 1


def test_a_plain_directory_is_copied(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a")
    task = Task("t", plain, None, "p", "true", 60.0)
    space = workspace.create(task, tmp_path / "work" / "run-1")
    (space.tree / "a.txt").write_text("changed by the run")
    assert (plain / "a.txt").read_text() == "a"
    workspace.remove(task, space.root)
    assert not space.root.exists()
