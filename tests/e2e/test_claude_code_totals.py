"""Claude Code's own cost and usage equal Phoenix's session totals and LiteLLM's (real CLI).

`claude -p --output-format json` prints `total_cost_usd` and `usage`; the same session in
Phoenix (its Sessions tab: the session's costSummary and token totals) and the sum of
`llm.cost.total` over its `litellm_request` spans must say the same, within 1%.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import announced_session
from tests.support import LAUNCHER, LLM_SPAN, Stack, wait_for_spans

pytestmark = pytest.mark.e2e

REL = 0.01
SESSION_TOTALS = """
query($s: String!) { getProjectSessionById(sessionId: $s) {
  costSummary { total { cost tokens } }
  tokenUsage { prompt completion }
  costDetailSummaryEntries { tokenType isPrompt value { tokens } }
} }"""


def _run(env: dict[str, str], tmp_path: Path, kind: str, prompt: str) -> tuple[str, dict[str, Any]]:
    """One `claude-session -t KIND -v v1 -- -p PROMPT --output-format json` in a fresh HOME."""
    result = subprocess.run(
        [str(LAUNCHER), "-t", kind, "-v", "v1", "--", "-p", prompt, "--output-format", "json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return announced_session(result.stderr), json.loads(result.stdout)


def _phoenix_session(
    live_stack: Stack, session_id: str, cost: float, timeout: float = 30.0
) -> dict[str, Any]:
    """The session's totals once Phoenix has priced every span (spans arrive in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        node = live_stack.phoenix.graphql(SESSION_TOTALS, {"s": session_id})["getProjectSessionById"]
        got = float(node["costSummary"]["total"]["cost"] or 0.0) if node else 0.0
        if node and (got == pytest.approx(cost, rel=REL) or time.monotonic() > deadline):
            return dict(node)
        if time.monotonic() > deadline:
            raise AssertionError(f"Phoenix has no session {session_id}")
        time.sleep(1.0)


@pytest.mark.parametrize(
    ("requests", "prompt"),
    [
        (1, "Say hi [[usage in=1200 out=80 cache_read=3000 cache_write=500]]"),
        (2, 'Which markdown files are here? [[tool:Glob {"pattern": "*.md"}]]'),
    ],
    ids=["one-prompt", "tool-round-trip"],
)
def test_claude_code_total_equals_phoenix_session_and_litellm(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path, requests: int, prompt: str
) -> None:
    (tmp_path / "NOTES.md").write_text("notes\n")
    session_id, output = _run(claude_env, tmp_path, "cc-totals", prompt)
    assert output["num_turns"] == requests
    claude_cost = float(output["total_cost_usd"])
    usage = output["usage"]
    claude_input = int(usage["input_tokens"])
    claude_output = int(usage["output_tokens"])
    claude_cache_read = int(usage.get("cache_read_input_tokens") or 0)
    claude_cache_write = int(usage.get("cache_creation_input_tokens") or 0)

    spans = wait_for_spans(live_stack, {"session.id": session_id}, requests)
    assert len(spans) == requests and all(span["name"] == LLM_SPAN for span in spans)
    litellm_cost = sum(float(span["attributes"]["llm.cost.total"]) for span in spans)
    node = _phoenix_session(live_stack, session_id, litellm_cost)
    phoenix_cost = float(node["costSummary"]["total"]["cost"])
    details = {
        entry["tokenType"]: float(entry["value"]["tokens"] or 0) for entry in node["costDetailSummaryEntries"]
    }
    print(
        f"{session_id}: Claude Code ${claude_cost:.6f}, Phoenix session ${phoenix_cost:.6f}, "
        f"LiteLLM sum ${litellm_cost:.6f}; Claude Code usage {usage}; Phoenix {node['tokenUsage']} {details}"
    )

    assert claude_cost > 0
    assert phoenix_cost == pytest.approx(claude_cost, rel=REL)
    assert litellm_cost == pytest.approx(claude_cost, rel=REL)
    # Phoenix's (and LiteLLM's) prompt tokens include the cache reads and writes.
    prompt_tokens = claude_input + claude_cache_read + claude_cache_write
    assert node["tokenUsage"]["prompt"] == pytest.approx(prompt_tokens, rel=REL)
    assert node["tokenUsage"]["completion"] == pytest.approx(claude_output, rel=REL)
    assert node["costSummary"]["total"]["tokens"] == pytest.approx(prompt_tokens + claude_output, rel=REL)
    assert details.get("cache_read", 0) == pytest.approx(claude_cache_read, rel=REL)
    assert details.get("cache_write", 0) == pytest.approx(claude_cache_write, rel=REL)
    span_tokens = {
        "cache_read": sum(s["attributes"].get("llm.token_count.prompt_details.cache_read", 0) for s in spans),
        "cache_write": sum(
            s["attributes"].get("llm.token_count.prompt_details.cache_write", 0) for s in spans
        ),
        "completion": sum(s["attributes"].get("llm.token_count.completion", 0) for s in spans),
    }
    assert span_tokens == {
        "cache_read": pytest.approx(claude_cache_read, rel=REL),
        "cache_write": pytest.approx(claude_cache_write, rel=REL),
        "completion": pytest.approx(claude_output, rel=REL),
    }
