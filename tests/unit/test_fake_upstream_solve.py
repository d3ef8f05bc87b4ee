"""The fake upstream's `[[solve p=X]]`: Read, Edit, then a final text when the session's draw is
under p; a final text at once otherwise; the same session always draws the same."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from claude_session.testing.fake_upstream import create_app, solve

pytestmark = pytest.mark.anyio
CWD = "/work/runs/abc/tree"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def body(directive: str, prompt: str, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A request shaped like Claude Code's: CLAUDE.md in a reminder of the first user message, the
    working directory in a system message."""
    first = {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": f"<system-reminder>\nContents of {CWD}/CLAUDE.md:\n{directive}\n</system-reminder>",
            },
            {"type": "text", "text": prompt},
        ],
    }
    system = {
        "role": "system",
        "content": [{"type": "text", "text": f" - Primary working directory: {CWD}\n"}],
    }
    return {"model": "claude-x", "max_tokens": 64, "messages": [first, system, *(history or [])]}


def tool_turn(name: str, tool_input: dict[str, Any]) -> list[dict[str, Any]]:
    use = {"type": "tool_use", "id": f"toolu_{name}", "name": name, "input": tool_input}
    result = {"type": "tool_result", "tool_use_id": f"toolu_{name}", "content": "ok"}
    return [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]


async def ask(payload: dict[str, Any], session: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://fake"
    ) as client:
        response = await client.post("/v1/messages", json=payload, headers={solve.SESSION_HEADER: session})
    assert response.status_code == 200, response.text
    return dict(response.json())


def tool_of(message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    return (uses[0]["name"], uses[0]["input"]) if uses else None


async def test_p_1_reads_then_edits_the_named_file_then_ends() -> None:
    prompt = "The test in test_calc.py fails. Fix the bug in calc.py."
    first = await ask(body("[[solve p=1]]", prompt), "s-1")
    assert tool_of(first) == ("Read", {"file_path": f"{CWD}/calc.py"})
    history = tool_turn("Read", {"file_path": f"{CWD}/calc.py"})
    second = await ask(body("[[solve p=1]]", prompt, history), "s-1")
    fix = solve.EXAMPLE_FIXES[0]
    assert tool_of(second) == (
        "Edit",
        {"file_path": f"{CWD}/calc.py", "old_string": fix.old, "new_string": fix.new},
    )
    history += tool_turn("Edit", {"file_path": f"{CWD}/calc.py"})
    third = await ask(body("[[solve p=1]]", prompt, history), "s-1")
    assert tool_of(third) is None and third["stop_reason"] == "end_turn"
    assert third["content"][0]["text"] == solve.SOLVED_TEXT


async def test_p_0_never_edits() -> None:
    for session in ("s-1", "s-2", "s-3"):
        answer = await ask(body("[[solve p=0]]", "Fix words.py"), session)
        assert tool_of(answer) is None and answer["content"][0]["text"] == solve.UNSOLVED_TEXT


async def test_the_draw_is_the_sessions_own() -> None:
    p = 0.5
    sessions = [f"session-{i}" for i in range(40)]
    answers = [tool_of(await ask(body(f"[[solve p={p}]]", "Fix words.py"), s)) is not None for s in sessions]
    again = [tool_of(await ask(body(f"[[solve p={p}]]", "Fix words.py"), s)) is not None for s in sessions]
    assert answers == again
    assert answers == [solve.draw(s) < p for s in sessions]
    assert 0 < sum(answers) < len(sessions)


def test_the_draw_is_uniform_enough_for_p() -> None:
    # over 4000 session ids the share under p is within 4.5 standard deviations of p
    n = 4000
    for p in (0.1, 0.3, 0.9):
        hits = sum(solve.solves(p, f"0b5e{i:08x}-uuid") for i in range(n))
        assert abs(hits / n - p) < 4.5 * math.sqrt(p * (1 - p) / n)


async def test_the_session_comes_from_metadata_without_the_header() -> None:
    payload = body("[[solve p=0.5]]", "Fix calc.py")
    payload["metadata"] = {"user_id": json.dumps({"device_id": "d", "session_id": "meta-7"})}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://fake"
    ) as client:
        answer = (await client.post("/v1/messages", json=payload)).json()
    assert (tool_of(answer) is not None) == (solve.draw("meta-7") < 0.5)


@pytest.mark.parametrize("directive", ["[[solve p=2]]", "[[solve q=0.5]]", "[[solve p=x]]", "[[solve]]"])
async def test_a_bad_directive_is_a_400(directive: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://fake"
    ) as client:
        response = await client.post("/v1/messages", json=body(directive, "Fix calc.py"))
    assert response.status_code == 400 and "solve" in response.json()["error"]["message"]
