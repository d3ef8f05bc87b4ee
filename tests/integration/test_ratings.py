"""`claude-session rate` and `--check CMD` against the real Phoenix, read back via its REST API."""

from __future__ import annotations

import json
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import Stack, wait_for_spans

# A stand-in `claude`: one Messages request through the proxy, as Claude Code sends it.
FAKE_CLAUDE = f"""#!{sys.executable}
import json, os, urllib.request
headers = {{"content-type": "application/json", "anthropic-version": "2023-06-01"}}
for line in os.environ["ANTHROPIC_CUSTOM_HEADERS"].splitlines():
    name, _, value = line.partition(":")
    headers[name.strip()] = value.strip()
body = {{"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{{"role": "user", "content": "hi"}}]}}
request = urllib.request.Request(
    os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages", json.dumps(body).encode(), headers
)
urllib.request.urlopen(request, timeout=60).read()
raise SystemExit(int(os.environ.get("FAKE_CLAUDE_EXIT", "0")))
"""


def _session_with_spans(stack: Stack, prefix: str) -> str:
    session_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    assert stack.messages({"session_id": session_id, "session_type": "rating-test"}).status_code == 200
    wait_for_spans(stack, {"session.id": session_id}, 1)
    return session_id


def _annotations(stack: Stack, session_id: str, name: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"session_ids": session_id, "include_annotation_names": name})
    page = stack.phoenix._request("GET", f"/v1/projects/{stack.project}/session_annotations?{query}")
    return list(page["data"]) if page else []


def test_rate_round_trip_update_and_refusals(live_stack: Stack) -> None:
    session_id = _session_with_spans(live_stack, "rated")
    done = live_stack.launcher("rate", session_id, "--score", "7", "--label", "good", "--note", "nice work")
    assert done.returncode == 0, done.stderr
    assert f"rated session {session_id}: score 7, label 'good'" in done.stdout
    (first,) = _annotations(live_stack, session_id, "rating")
    assert first["annotator_kind"] == "HUMAN"
    assert first["result"] == {"score": 7.0, "label": "good", "explanation": "nice work"}

    again = live_stack.launcher("rate", session_id, "--score", "9.5")
    assert again.returncode == 0, again.stderr
    (updated,) = _annotations(live_stack, session_id, "rating")
    assert updated["id"] == first["id"]
    assert updated["result"]["score"] == 9.5

    for args, message in [
        ([session_id, "--score", "high"], "is not a number"),
        (["no-such-session-" + uuid.uuid4().hex[:8], "--score", "3"], "has no session"),
        ([session_id, "--score", "3", "--note", "x" * 1001], "--note: at most 1000 characters"),
    ]:
        refused = live_stack.launcher("rate", *args)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1 and message in refused.stderr
    (still,) = _annotations(live_stack, session_id, "rating")
    assert still["result"]["score"] == 9.5


def test_rate_with_phoenix_unreachable_is_one_line_exit_1(live_stack: Stack) -> None:
    result = live_stack.launcher("rate", "any-session", "--score", "5", "--phoenix-url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Phoenix is not reachable at http://127.0.0.1:9" in result.stderr


@pytest.fixture
def fake_claude(tmp_path: Path) -> Path:
    fake = tmp_path / "bin" / "claude"
    fake.parent.mkdir()
    fake.write_text(FAKE_CLAUDE)
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize(("command", "label", "score"), [("true", "pass", 1.0), ("exit 3", "fail", 0.0)])
def test_check_on_a_one_off_records_pass_or_fail(
    live_stack: Stack, fake_claude: Path, command: str, label: str, score: float
) -> None:
    session_id = f"checked-{uuid.uuid4().hex[:8]}"
    env = {"CLAUDE_SESSION_CLAUDE": str(fake_claude), "FAKE_CLAUDE_EXIT": "4"}
    result = live_stack.launcher("--id", session_id, "--check", command, "do it", env=env)
    assert result.returncode == 4, result.stderr  # Claude Code's exit code, not the check's
    verdict = "passed" if label == "pass" else "failed"
    assert f"check {verdict} (exit {0 if label == 'pass' else 3}," in result.stderr
    assert f"recorded on session {session_id}" in result.stderr
    (check,) = _annotations(live_stack, session_id, "check")
    assert check["annotator_kind"] == "CODE"
    assert (check["result"]["label"], check["result"]["score"]) == (label, score)
    assert check["metadata"]["command"] == command
    assert check["metadata"]["exit_code"] == (0 if label == "pass" else 3)
    assert check["metadata"]["duration_s"] >= 0

    # Without an id, `rate` rates the last session started here.
    rated = live_stack.launcher("rate", "--label", "checked")
    assert rated.returncode == 0, rated.stderr
    assert session_id in rated.stdout


def test_check_command_missing_is_one_line_and_not_recorded(live_stack: Stack, fake_claude: Path) -> None:
    session_id = f"nocheck-{uuid.uuid4().hex[:8]}"
    env = {"CLAUDE_SESSION_CLAUDE": str(fake_claude)}
    result = live_stack.launcher("--id", session_id, "--check", "no-such-command-xyz", "do it", env=env)
    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("claude-session: check")]
    assert ours == ["claude-session: check command not found (sh exited 127): nothing recorded"]
    wait_for_spans(live_stack, {"session.id": session_id}, 1)
    assert _annotations(live_stack, session_id, "check") == []


def test_the_report_shows_ratings_and_checks_per_group(live_stack: Stack) -> None:
    """Two v1 sessions (one check passes, one fails, one rated 8) and one v2 session (passes):
    the report's outcomes per version, and the cost per success computed from its own costs."""
    kind = f"outcomes-{uuid.uuid4().hex[:6]}"
    ids = {}
    for name, version in (("a", "v1"), ("b", "v1"), ("c", "v2")):
        session_id = f"{kind}-{name}"
        session = {"session_id": session_id, "session_type": kind, "prompt_version": version}
        assert live_stack.messages(session).status_code == 200
        ids[name] = session_id
    for session_id in ids.values():
        wait_for_spans(live_stack, {"session.id": session_id}, 1)
    for name, passed in (("a", True), ("b", False), ("c", True)):
        live_stack.phoenix._request(
            "POST",
            "/v1/session_annotations?sync=true",
            {
                "data": [
                    {
                        "session_id": ids[name],
                        "name": "check",
                        "annotator_kind": "CODE",
                        "result": {"label": "pass" if passed else "fail", "score": 1 if passed else 0},
                        "metadata": {},
                        "identifier": "",
                    }
                ]
            },
        )
    assert live_stack.launcher("rate", ids["a"], "--score", "8").returncode == 0
    done = live_stack.launcher("report", "--type", kind, "--format", "json", "--no-phoenix-check")
    assert done.returncode == 0, done.stderr
    groups = {g["key"]: g for g in json.loads(done.stdout)["groups"]}
    v1, v2 = groups["v1"], groups["v2"]
    assert (v1["rated_sessions"], v1["mean_score"]) == (1, 8.0)
    assert (v1["checked_sessions"], v1["passed_sessions"], v1["success_rate"]) == (2, 1, 0.5)
    assert v1["cost_per_success"] == pytest.approx(v1["cost_usd"] / 1)  # both sessions paid for one pass
    assert (v2["checked_sessions"], v2["passed_sessions"], v2["success_rate"]) == (1, 1, 1.0)
    assert v2["cost_per_success"] == pytest.approx(v2["cost_usd"])
    table = live_stack.launcher("report", "--type", kind, "--no-phoenix-check")
    assert "  success rate" in table.stdout and "50%" in table.stdout
