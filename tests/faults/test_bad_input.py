"""Bad input at the proxy: a 4xx with a clear message (or a sanitised value), never a 5xx or a crash.

Raw HTTP over a socket, so that bytes no HTTP client library would send (NUL, CR, LF,
invalid UTF-8) reach the proxy exactly as written. After each case the proxy must still
serve a normal request.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_session.core import fields
from tests.faults.helpers import header_line, key_header, raw_request, status_of
from tests.support import Stack

SESSION_HEADERS = sorted(fields.FIELD_BY_HEADER)


def _body_json(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def _still_serving(stack: Stack) -> None:
    response = stack.messages()
    assert response.status_code == 200, response.text


def _anthropic_error(answer: bytes) -> dict:
    error = _body_json(answer)
    assert error["type"] == "error", error
    assert error["error"]["type"] == "invalid_request_error", error
    return error["error"]


def test_malformed_json_gets_400(live_stack: Stack) -> None:
    answer = raw_request(live_stack.settings.proxy_port, key_header(live_stack), body=b'{"model": "claude-')
    assert status_of(answer) == 400, answer[:300]
    assert _anthropic_error(answer)["message"].startswith("Invalid JSON payload")
    _still_serving(live_stack)


# Formerly a strict xfail: LiteLLM 1.108.7's auth step called .get on a list (a 500); the session
# middleware now answers Anthropic's 400 first.
@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_json_body_that_is_not_an_object_gets_400(live_stack: Stack, body: bytes) -> None:
    answer = raw_request(live_stack.settings.proxy_port, key_header(live_stack), body=body)
    assert status_of(answer) == 400, answer[:300]
    assert _anthropic_error(answer)["message"].startswith("Invalid JSON payload: the request body must be")
    _still_serving(live_stack)


def test_a_5kb_conversation_id_is_refused_before_it_reaches_a_span(live_stack: Stack) -> None:
    """LiteLLM takes x-claude-code-session-id as its trace id: 5 KB of it landed on every span.
    Refused by the middleware, the request never reaches LiteLLM, so no span is made."""
    answer = raw_request(
        live_stack.settings.proxy_port,
        key_header(live_stack) + header_line(fields.CLAUDE_CODE_HEADER, b"c" * 5000),
    )
    assert status_of(answer) == 400, answer[:300]
    assert (
        _anthropic_error(answer)["message"]
        == f"header {fields.CLAUDE_CODE_HEADER}: at most 128 characters (got 5000)"
    )
    _still_serving(live_stack)


# LiteLLM 1.108.7 parses these with bare float()/int() (a 500); the session middleware refuses them first.
@pytest.mark.parametrize("header", ["x-litellm-timeout", "x-litellm-stream-timeout", "x-litellm-num-retries"])
def test_non_numeric_litellm_control_header_gets_400(live_stack: Stack, header: str) -> None:
    answer = raw_request(live_stack.settings.proxy_port, key_header(live_stack) + header_line(header, b"abc"))
    assert status_of(answer) == 400, answer[:300]
    assert f"header {header}: must be a number".encode() in answer
    _still_serving(live_stack)


def test_oversized_header_gets_400(live_stack: Stack) -> None:
    huge = header_line("x-padding", b"a" * 1_000_000)
    answer = raw_request(live_stack.settings.proxy_port, key_header(live_stack) + huge)
    assert status_of(answer) == 400, answer[:300]
    _still_serving(live_stack)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (b"code-review\x00x", "NUL"),
        (b"code-review\rx-evil: 1", "bare CR"),
    ],
)
def test_control_characters_in_a_session_header_get_400(live_stack: Stack, value: bytes, what: str) -> None:
    answer = raw_request(
        live_stack.settings.proxy_port, key_header(live_stack) + header_line("x-session-tracking-type", value)
    )
    assert status_of(answer) == 400, (what, answer[:300])
    _still_serving(live_stack)


def test_bare_lf_in_a_session_header_only_ends_the_line(live_stack: Stack) -> None:
    """HTTP/1.1 parsers take a bare LF as the end of the header line: the value is cut there."""
    answer = raw_request(
        live_stack.settings.proxy_port,
        key_header(live_stack) + header_line("x-session-tracking-type", b"code-review\nx-evil: 1"),
    )
    assert status_of(answer) == 200, answer[:300]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"caf\xc3\xa9", "only"),  # raw UTF-8: ids allow only slugs, names only percent-encoded
        (b"ab\xff\xfecd", "only"),  # invalid UTF-8
        (b"a" * 10_000, "at most"),
    ],
    ids=["utf8", "invalid-utf8", "10000-chars"],
)
@pytest.mark.parametrize("header", ["x-session-tracking-id", "x-session-tracking-name"])
def test_bad_session_value_gets_anthropic_400(
    live_stack: Stack, header: str, value: bytes, expected: str
) -> None:
    answer = raw_request(live_stack.settings.proxy_port, key_header(live_stack) + header_line(header, value))
    assert status_of(answer) == 400, answer[:300]
    error = _body_json(answer)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    message = error["error"]["message"]
    assert message.startswith(f"invalid session header: header {header}")
    assert expected in message
    if header == "x-session-tracking-name" and expected == "only":
        assert "only ASCII in the header (percent-encode as UTF-8)" in message
    assert "\ufffd" not in message and "\\x" not in message  # the bad value is never echoed


# LiteLLM forwards x-* headers upstream, where httpx refuses a non-ASCII value (a 500 after
# retries); the session middleware refuses such a header first.
@pytest.mark.parametrize("header", [fields.CLAUDE_CODE_HEADER, "x-team"])
def test_non_ascii_x_header_is_not_a_5xx(live_stack: Stack, header: str) -> None:
    answer = raw_request(
        live_stack.settings.proxy_port,
        key_header(live_stack)
        + header_line(header, b"\xff\xfe")
        + header_line("x-litellm-num-retries", b"0"),
    )
    assert status_of(answer) == 400, answer[:300]
    assert b"only ASCII values are accepted" in answer


# Any byte but CR and LF (those end the header line; covered above), 0-200 of them.
_HEADER_BYTES = st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.sampled_from(SESSION_HEADERS),
    value=st.one_of(_HEADER_BYTES, st.text(max_size=150).map(str.encode)),
)
def test_any_session_header_value_gets_200_or_a_clear_400(
    live_stack: Stack, header: str, value: bytes
) -> None:
    value = value.replace(b"\r", b"").replace(b"\n", b"")
    answer = raw_request(
        live_stack.settings.proxy_port,
        key_header(live_stack) + header_line(header, value),
        timeout=30,
    )
    status = status_of(answer)
    assert status in (200, 400), answer[:300]
    if status == 400 and b"application/json" in answer.split(b"\r\n\r\n", 1)[0].lower():
        error = _body_json(answer)
        assert error["error"]["message"].startswith("invalid session header: ")
    if status == 200:
        # Accepted: the value the parser saw (surrounding blanks trimmed) is a valid one.
        seen = value.strip(b" \t").decode("latin-1")
        fields.validate(fields.FIELD_BY_HEADER[header], seen)


def test_proxy_survived_the_bad_input(live_stack: Stack) -> None:
    _still_serving(live_stack)
