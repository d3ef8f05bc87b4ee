"""The real Claude Code CLI through the proxy while the upstream is overloaded: the upstream answers
529 twice, then succeeds. The proxy does not retry, so the fake sees exactly Claude Code's own three
attempts; Claude Code (which retries 529 itself, honouring retry-after) succeeds; and the report
counts what the client sent: three requests, two errors, and the cost of the one that succeeded,
which is Claude Code's own `total_cost_usd`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from claude_session.core import fields
from tests.e2e.conftest import announced_session
from tests.support import LAUNCHER, Stack, wait_for_spans

pytestmark = pytest.mark.e2e

MODEL = "claude-sonnet-4-5"
# Anthropic's list price for claude-sonnet-4-5, USD per token: the independent check of both costs.
INPUT_PRICE, OUTPUT_PRICE = 3e-6, 15e-6
IN_TOKENS, OUT_TOKENS = 1000, 50
PROMPT = f"Say hi [[fault:529x2]] [[usage in={IN_TOKENS} out={OUT_TOKENS} cache_read=0 cache_write=0]]"


def _report(stack: Stack, session_id: str) -> dict[str, Any]:
    done = stack.launcher("report", "--session", session_id, "--format", "json", "--no-phoenix-check")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_claude_code_retries_an_overloaded_upstream_and_the_report_counts_its_attempts(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            str(LAUNCHER),
            "-t",
            "gateway-retry",
            "-v",
            "v1",
            "--",
            "-p",
            PROMPT,
            "--model",
            MODEL,
            "--output-format",
            "json",
        ],
        env=claude_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    output = json.loads(result.stdout)
    assert output["is_error"] is False, output
    session_id = announced_session(result.stderr)
    conversation = output["session_id"]  # Claude Code's x-claude-code-session-id

    log = httpx.get(f"{live_stack.settings.upstream_url}/_fake/requests", timeout=10).json()
    attempts = [r for r in log["requests"] if r["headers"].get(fields.CLAUDE_CODE_HEADER) == conversation]
    assert len(attempts) == 3, attempts

    expected_cost = IN_TOKENS * INPUT_PRICE + OUT_TOKENS * OUTPUT_PRICE
    claude_cost = float(output["total_cost_usd"])
    assert claude_cost == pytest.approx(expected_cost, rel=1e-6), json.dumps(output)

    # Three LLM spans (two ERROR, one OK) reach Phoenix in batches; then the report reads them.
    spans = wait_for_spans(live_stack, {"session.id": session_id}, 3)
    assert sorted(span["status_code"] for span in spans) == ["ERROR", "ERROR", "OK"]
    # One proxy request (a root span) per client attempt, each holding its one upstream attempt.
    roots = wait_for_spans(live_stack, {"session.id": session_id}, 3, name="litellm_proxy_request")
    assert len(roots) == 3
    assert {span["context"]["trace_id"] for span in roots} == {span["context"]["trace_id"] for span in spans}
    time.sleep(2)
    (group,) = _report(live_stack, session_id)["groups"]
    assert group["requests"] == 3
    assert group["errors"] == 2
    assert group["cost_usd"] == pytest.approx(claude_cost, rel=1e-6)
