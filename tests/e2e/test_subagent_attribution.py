"""Attribution inside a session, end to end: the real Claude Code CLI through the launcher starts a
sub-agent (the fake upstream asks for Claude Code's agent tool); the gateway hints come back from
Phoenix on the LLM spans, and `claude-session report` splits the session's cost between the main
loop and the sub-agent and counts its turns."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from claude_session.core import gateway_hints
from tests.e2e.conftest import announced_session
from tests.support import Stack, session_of, wait_for_spans

pytestmark = pytest.mark.e2e

AGENT_TYPE = "general-purpose"
# Claude Code 2.1.331 names its sub-agent tool "Agent" ("Task" is the older name).
AGENT_CALL = {"description": "Say hello", "prompt": "Say hello back, briefly.", "subagent_type": AGENT_TYPE}
PROMPT = f"Delegate a greeting to a sub-agent. [[tool:Agent {json.dumps(AGENT_CALL)}]]"


def _report(stack: Stack, session_id: str, group_by: str) -> dict[str, Any]:
    done = stack.launcher(
        "report", "--session", session_id, "--group-by", group_by, "--format", "json", "--no-phoenix-check"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_subagent_run_is_split_between_main_loop_and_subagent(
    live_stack: Stack, tmp_path: Path, claude_env: dict[str, str]
) -> None:
    env = dict(claude_env)
    env.pop(gateway_hints.ENV_VAR, None)  # the launcher turns the hints on by itself
    result = subprocess.run(
        [str(Path(__file__).parents[2] / "scripts/claude-session"), "-t", "attribution", PROMPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    session_id = announced_session(result.stderr)

    # The main loop's tool_use turn, the sub-agent's request, the main loop's turn with the result.
    # Spans reach Phoenix in batches: wait for both kinds, then for the export to settle.
    wait_for_spans(live_stack, {"session.id": session_id, "claude_code.request_class": "subagent"}, 1)
    wait_for_spans(live_stack, {"session.id": session_id, "claude_code.request_class": "main"}, 2)
    time.sleep(6)
    spans = wait_for_spans(live_stack, {"session.id": session_id}, 3)
    attrs = [session_of(span) for span in spans]
    classes = [a.get("claude_code.request_class") for a in attrs]
    assert classes.count("main") >= 2, attrs
    subagents = [a for a in attrs if a.get("claude_code.request_class") == "subagent"]
    assert subagents, attrs
    assert {a.get("claude_code.agent_type") for a in subagents} == {AGENT_TYPE}
    assert all(a.get("claude_code.agent_id") for a in subagents)
    ordered = [a for _, a in sorted(zip([span["start_time"] for span in spans], attrs, strict=True))]
    first_prompt = ordered[0].get("claude_code.prompt_id")
    assert first_prompt and all(a.get("claude_code.prompt_id") == first_prompt for a in subagents)
    prompt_ids = {a.get("claude_code.prompt_id") for a in attrs}
    assert None not in prompt_ids
    # Claude Code 2.1.331 runs the agent tool in the background under -p: the sub-agent's
    # completion comes back as a task notification, a user message with a prompt id of its own,
    # so one -p prompt shows up as one or two prompt ids (turns), never more.
    assert len(prompt_ids) in (1, 2), ordered

    (group,) = _report(live_stack, session_id, "session")["groups"]
    assert group["requests"] == len(spans)
    breakdown = group["cost_breakdown"]
    assert set(breakdown) == {"main", f"subagent:{AGENT_TYPE}", "rest"}
    assert math.isclose(math.fsum(breakdown.values()), group["cost_usd"], rel_tol=1e-9, abs_tol=1e-12)
    assert breakdown["main"] > 0 and breakdown[f"subagent:{AGENT_TYPE}"] > 0, breakdown
    assert group["turns"] == len(prompt_ids) and group["turns_unknown_sessions"] == 0
    assert group["cost_per_turn"] == pytest.approx(group["cost_usd"] / len(prompt_ids))

    by_class = {g["key"]: g for g in _report(live_stack, session_id, "request_class")["groups"]}
    assert by_class["main"]["requests"] == classes.count("main")
    assert by_class["subagent"]["requests"] == len(subagents)
    assert by_class["main"]["cost_usd"] == pytest.approx(breakdown["main"])
    by_agent = {g["key"]: g for g in _report(live_stack, session_id, "agent-type")["groups"]}
    assert by_agent[AGENT_TYPE]["cost_usd"] == pytest.approx(breakdown[f"subagent:{AGENT_TYPE}"])
    print(  # figures for the record (pytest -s)
        f"\n{session_id}: {len(spans)} requests, total ${group['cost_usd']:.6f}, breakdown {breakdown}, "
        f"turns {group['turns']}, per turn ${group['cost_per_turn']:.6f}"
    )
