"""Session names in any language, with quotes and backslashes, through the real proxy and Phoenix
(issue 10: names in any language).

Names travel percent-encoded in `x-session-tracking-name`; the span, the report and the
Phoenix filters the report prints must carry them exactly, and no name may change what a
filter selects.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from claude_session.cli import main as cli
from claude_session.core import fields
from claude_session.phoenix.filters import span_condition
from claude_session.session import launcher
from tests.support import Stack, session_of, wait_for_spans

UMLAUT = "auth module ü"
NON_LATIN = ("日本語のセッション名" * 10)[:100]  # 100 characters, 300 bytes of UTF-8
QUOTES = "O'Brien's \"fix\" \\ path"
INJECTION = "x' or session.type != '"  # a valid name: it must select its own session, nothing else
NAMES = (UMLAUT, NON_LATIN, QUOTES, INJECTION)
REQUESTS = 2  # per session: one JSON, one streamed


@dataclass(frozen=True)
class Named:
    kind: str
    sessions: dict[str, dict[str, str]]  # name -> session metadata
    spans: dict[str, list[dict[str, Any]]]  # name -> its litellm_request spans


@pytest.fixture(scope="module")
def named(live_stack: Stack) -> Named:
    kind = f"unicode-{uuid.uuid4().hex[:6]}"
    sessions = {name: launcher.Session.new(kind, "v1", name).as_metadata() for name in NAMES}
    for session in sessions.values():
        for stream in (False, True):
            response = live_stack.messages(session, stream=stream, prompt="names [[usage in=10 out=2]]")
            assert response.status_code == 200, response.text
    spans = {
        name: wait_for_spans(
            live_stack, {"session.id": s["session_id"], "session.name": name}, REQUESTS, timeout=60
        )
        for name, s in sessions.items()
    }
    wait_for_spans(live_stack, {"session.type": kind}, REQUESTS * len(NAMES), name="litellm_proxy_request")
    return Named(kind, sessions, spans)


def report(live_stack: Stack, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["report", *argv], live_stack.env)
    out, err = capsys.readouterr()
    return code, out, err


def report_json(live_stack: Stack, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = report(live_stack, capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def selected_sessions(live_stack: Stack, condition: str) -> list[str]:
    """The session ids of the spans Phoenix's span query (the report's endpoint) selects."""
    rows = live_stack.phoenix.query_spans(live_stack.project, {"session": "session"}, condition, limit=10_000)
    return sorted(str(row["session"]["id"]) for row in rows)


def test_the_header_carries_percent_encoded_utf8(named: Named) -> None:
    header = fields.to_headers(named.sessions[UMLAUT])[fields.SESSION_NAME.header]
    assert header == "auth module %C3%BC"
    assert fields.to_headers(named.sessions[QUOTES])[fields.SESSION_NAME.header].isascii()


@pytest.mark.parametrize("name", NAMES, ids=["umlaut", "non-latin-100", "quotes", "injection"])
def test_spans_carry_the_name_exactly(named: Named, name: str) -> None:
    session = named.sessions[name]
    assert len(named.spans[name]) == REQUESTS
    for span in named.spans[name]:
        assert session_of(span)["session.name"] == name
        assert span["attributes"]["session.id"] == session["session_id"]
    assert len(NON_LATIN) == 100


@pytest.mark.parametrize("name", NAMES, ids=["umlaut", "non-latin-100", "quotes", "injection"])
def test_report_name_selects_exactly_that_session(
    named: Named, live_stack: Stack, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    session_id = named.sessions[name]["session_id"]
    # Within this module's type: other tests on the same stack use the same names.
    data = report_json(live_stack, capsys, "--type", named.kind, "--name", name, "--group-by", "session")
    assert [(g["key"], g["requests"], g["session_name"]) for g in data["groups"]] == [
        (session_id, REQUESTS, name)
    ]
    assert data["filters"] == {"type": named.kind, "name": name}
    # The printed Spans-tab filter, run through Phoenix's span query, selects the same spans.
    for condition in (data["span_filter"], data["groups"][0]["span_filter"]):
        assert selected_sessions(live_stack, condition) == [session_id] * REQUESTS


def test_group_by_name_shows_every_name_exactly(
    named: Named, live_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    data = report_json(live_stack, capsys, "--type", named.kind, "--group-by", "name")
    assert {g["key"]: g["requests"] for g in data["groups"]} == dict.fromkeys(NAMES, REQUESTS)
    for group in data["groups"]:
        expected = named.sessions[group["key"]]["session_id"]
        assert selected_sessions(live_stack, group["span_filter"]) == [expected] * REQUESTS

    code, out, err = report(live_stack, capsys, "--type", named.kind, "--group-by", "name")
    assert code == 0, err
    for group in data["groups"]:
        assert group["span_filter"] in out  # printed as the JSON has it: the one quoting
    assert "session.name == 'O\\'Brien\\'s \"fix\" \\\\ path'" in out
    assert f"session.name == '{UMLAUT}'" in out  # readable, not escaped


@pytest.mark.parametrize(
    "value",
    [
        INJECTION + "x",
        "' or '1' == '1",
        "x' or name != '",
        "\\' or True or '",
        "') or (name == 'litellm_request",
        "ü' or session.name != 'ü",
    ],
)
def test_an_injection_shaped_value_selects_nothing_else(
    named: Named, live_stack: Stack, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert selected_sessions(live_stack, span_condition({"name": value})) == []
    assert selected_sessions(live_stack, span_condition({"type": named.kind, "name": value})) == []
    code, out, err = report(live_stack, capsys, "--name", value, "--type", named.kind)
    assert code == 0, err
    assert out.startswith("no LLM requests in project")


def test_the_type_and_version_filters_are_quoted_too(
    named: Named, live_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for option in ("--type", "--version"):
        code, out, err = report(live_stack, capsys, option, "v1' or session.name != '")
        assert (code, err) == (0, ""), err
        assert out.startswith("no LLM requests in project")


@pytest.mark.parametrize(
    "value, reason",
    [
        (b"caf\xc3\xa9", "ASCII"),  # raw UTF-8: must be percent-encoded
        (b"100%", "%25"),  # a bare '%'
        (b"bad %zz escape", "%25"),
        (b"%C3%28", "UTF-8"),  # not UTF-8
        (b"line%0Abreak", "control"),  # decoded, then refused
    ],
)
def test_the_proxy_refuses_a_bad_name_header(live_stack: Stack, value: bytes, reason: str) -> None:
    headers = {
        **live_stack.auth(),
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
    }
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(
        live_stack.proxy_url + "/v1/messages",
        headers=[*headers.items(), (fields.SESSION_NAME.header, value)],
        json=body,
        timeout=30,
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert fields.SESSION_NAME.header in message and reason in message
