"""Session names in any language (issue 10): validation, the header encoding, filter escaping,
the middleware's decoding (in process through an ASGI client) and the span attribute."""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from claude_session.core import fields
from claude_session.core.errors import ClaudeSessionError
from claude_session.phoenix.filters import quote, root_condition, span_condition
from claude_session.proxy.middleware import SessionMetadataMiddleware, current_session
from claude_session.proxy.settings import ProxySettings
from claude_session.proxy.span_attributes import set_session_attributes
from claude_session.session import custom_headers as headers
from claude_session.session.launcher import Session

NAME = fields.SESSION_NAME
CJK_100 = "漢字仮名交じり文" * 12 + "漢字仮名"  # 100 characters, 300 bytes
EMOJI = "👨‍👩‍👧 release 🚀"  # ZWJ sequence
ROUND_TRIP = [
    "auth module ü",
    CJK_100,
    "O'Brien's \"fix\" \\ path",
    "100% done",
    "%41 is not A",
    "a%25b",
    EMOJI,
    "Ελληνικά: ναι; όχι",  # noqa: RUF001 (Greek on purpose)
    "עברית ו-English",  # noqa: RUF001 (Hebrew on purpose)
    "async refactor/api+docs",
    "x' or session.type != '",
]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "value", [*ROUND_TRIP, "é", "a\u00a0b", "x\u200by", "🏴\U000e0067\U000e0062\U000e007f"]
)
def test_printable_unicode_names_are_accepted(value: str) -> None:
    assert fields.validate(NAME, value) == value


def test_100_cjk_characters_are_accepted_counted_as_characters() -> None:
    assert len(CJK_100) == 100 and len(CJK_100.encode()) == 300
    assert fields.validate(NAME, CJK_100) == CJK_100


@pytest.mark.parametrize(
    "value, words",
    [
        ("two\nlines", "control"),
        ("carriage\rreturn", "control"),
        ("tab\there", "control"),
        ("nul\x00", "control"),
        ("escape \x1b[31m red", "control"),
        ("c1 \x85 next line", "control"),
        ("del\x7f", "control"),
        ("line\u2028separator", "separator"),
        ("para\u2029separator", "separator"),
        ("bidi \u202e override", "bidirectional"),
        ("isolate \u2066x\u2069", "bidirectional"),
        ("lone \ud800 surrogate", "surrogate"),
        ("   ", "visible"),
        ("\u3000\u3000", "visible"),
        ("\u200b", "visible"),
        (" leading", "whitespace"),
        ("trailing\u3000", "whitespace"),
        ("漢" * 101, "at most 100 characters (got 101)"),
        ("n" * 101, "at most 100"),
        ("", "empty"),
    ],
)
def test_bad_names_are_refused_in_one_line_without_the_value(value: str, words: str) -> None:
    with pytest.raises(fields.InvalidSessionValue) as err:
        fields.validate(NAME, value)
    message = str(err.value)
    assert message.startswith("--name: ") and words in message
    assert "\n" not in message and (len(value.strip()) < 3 or value.strip() not in message)


@pytest.mark.parametrize("field", [fields.SESSION_TYPE, fields.PROMPT_VERSION, fields.SESSION_ID])
@pytest.mark.parametrize("value", ["évolution", "code review", "a'b"])
def test_types_versions_and_ids_stay_ascii_slugs(field: fields.SessionField, value: str) -> None:
    with pytest.raises(fields.InvalidSessionValue, match="only letters"):
        fields.validate(field, value)


@pytest.mark.parametrize("name", ["two\nlines", "bell\x07", "n" * 101])
def test_the_launcher_refuses_with_exit_2(name: str) -> None:
    with pytest.raises(ClaudeSessionError) as err:
        Session.new("code-review", "v1", name)
    assert err.value.exit_code == 2
    assert "\n" not in str(err.value)


def test_the_launcher_keeps_a_unicode_name_as_it_is() -> None:
    session = Session.new("code-review", "v1", "auth module ü")
    assert session.as_metadata()["session_name"] == "auth module ü"
    assert fields.to_env(session.as_metadata())["PHOENIX_SESSION_NAME"] == "auth module ü"


# --------------------------------------------------------------------------- the header


@pytest.mark.parametrize("value", ROUND_TRIP)
def test_header_round_trip(value: str) -> None:
    encoded = fields.encode_header_value(NAME, value)
    assert encoded.isascii() and encoded.isprintable() and ":" not in encoded
    assert encoded == encoded.strip()
    assert fields.decode_header_value(NAME, encoded) == value
    merged = headers.merge(None, {"session_name": value}, "sk-key")
    assert fields.from_headers(headers.parse(merged)) == {"session_name": value}


def test_the_encoding_of_special_characters() -> None:
    assert fields.encode_header_value(NAME, "auth module ü") == "auth module %C3%BC"
    assert fields.encode_header_value(NAME, "100%") == "100%25"  # '%' always encoded
    assert fields.encode_header_value(NAME, 'O\'Brien "x" \\') == "O%27Brien %22x%22 %5C"
    assert fields.encode_header_value(NAME, "🚀") == "%F0%9F%9A%80"


@pytest.mark.parametrize("value", ["async refactor/api+docs", "auth-module", "v1.2_x~y", "O'Brien (fix)"])
def test_an_ascii_name_without_percent_decodes_to_itself(value: str) -> None:
    assert fields.decode_header_value(NAME, value) == value


def test_old_ascii_names_are_their_own_encoding() -> None:
    """Every name the ASCII-only rule of old accepted goes on the wire unchanged."""
    assert (
        fields.encode_header_value(NAME, "async refactor/api+docs-1.2_b") == "async refactor/api+docs-1.2_b"
    )


@given(st.text(min_size=1, max_size=100))
def test_any_valid_name_round_trips(value: str) -> None:
    try:
        fields.validate(NAME, value)
    except fields.InvalidSessionValue:
        return
    assert fields.decode_header_value(NAME, fields.encode_header_value(NAME, value)) == value


@pytest.mark.parametrize(
    "value, words",
    [
        ("café", "only ASCII"),
        ("100%", "%25"),
        ("%zz", "%XX escape"),
        ("%4", "%XX escape"),
        ("%C3%28", "not UTF-8"),
        ("%FF", "not UTF-8"),
        ("a%0Ab", "control"),
        ("%E2%80%AE", "bidirectional"),
        ("%20padded", "whitespace"),
        ("n" * 101, "at most 100"),
    ],
)
def test_undecodable_or_invalid_header_values_are_refused(value: str, words: str) -> None:
    with pytest.raises(fields.InvalidSessionValue) as err:
        fields.from_headers([(NAME.header, value)])
    assert str(err.value).startswith(f"header {NAME.header}: ") and words in str(err.value)


def test_env_vars_carry_unicode_directly() -> None:
    assert fields.from_env({"PHOENIX_SESSION_NAME": "auth module ü"}) == {"session_name": "auth module ü"}
    assert fields.from_env({"PHOENIX_SESSION_NAME": "a%C3%BC"}) == {"session_name": "a%C3%BC"}  # not decoded
    with pytest.raises(fields.InvalidSessionValue, match="PHOENIX_SESSION_NAME: no control"):
        fields.from_env({"PHOENIX_SESSION_NAME": "a\nb"})
    settings = ProxySettings.from_environ({"PHOENIX_SESSION_NAME": CJK_100})
    assert settings.session_defaults["session_name"] == CJK_100


# --------------------------------------------------------------------------- filters

INJECTIONS = [
    "x' or session.type != '",
    "' or '1' == '1",
    "\\' or True or '",
    "\\\\' or True or '",
    "') or (name == 'litellm_request",
    "x'\nor True",
    "a\x00b",
    "\u2028' or True #",
    'x" or "1" == "1',
]


@pytest.mark.parametrize("value", INJECTIONS + ROUND_TRIP)
def test_quote_makes_one_literal_of_any_value(value: str) -> None:
    literal = quote(value)
    assert "\n" not in literal and "\r" not in literal and "\x00" not in literal
    tree = ast.parse(literal, mode="eval")
    assert isinstance(tree.body, ast.Constant) and tree.body.value == value


@pytest.mark.parametrize("value", INJECTIONS)
def test_no_value_changes_a_filters_meaning(value: str) -> None:
    """Whatever the value, the expression stays `name == ... and session.name == <value>`."""
    tree = ast.parse(span_condition({"type": "t", "name": value}), mode="eval").body
    assert isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) and len(tree.values) == 3
    last = tree.values[2]
    assert isinstance(last, ast.Compare) and ast.unparse(last.left) == "session.name"
    assert isinstance(last.ops[0], ast.Eq) and len(last.comparators) == 1
    assert isinstance(last.comparators[0], ast.Constant) and last.comparators[0].value == value
    root = ast.parse(root_condition({"name": value}), mode="eval").body
    assert isinstance(root, ast.Compare) and isinstance(root.comparators[0], ast.Constant)
    assert root.comparators[0].value == value


def test_printed_filters_stay_readable() -> None:
    assert span_condition({"name": "auth module ü"}) == (
        "name == 'litellm_request' and session.name == 'auth module ü'"
    )
    assert quote("O'Brien's \"fix\" \\ path") == "'O\\'Brien\\'s \"fix\" \\\\ path'"
    assert quote(CJK_100) == f"'{CJK_100}'"
    assert quote("a\x07\u2028b") == "'a\\x07\\u2028b'"


# --------------------------------------------------------------------------- middleware


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"session": current_session()})

    app = SessionMetadataMiddleware(Starlette(routes=[Route("/v1/messages", endpoint, methods=["POST"])]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p.test") as http:
        yield http


@pytest.mark.anyio
@pytest.mark.parametrize("value", ROUND_TRIP)
async def test_the_middleware_decodes_the_name(client: httpx.AsyncClient, value: str) -> None:
    sent = fields.to_headers({"session_type": "code-review", "session_name": value})
    response = await client.post("/v1/messages", headers=sent, json={"model": "claude-sonnet-4-5"})
    assert response.status_code == 200
    assert response.json()["session"] == {"session_type": "code-review", "session_name": value}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raw, words",
    [
        ("café".encode(), "only ASCII"),
        (b"100%", "%25"),
        (b"%C3%28", "not UTF-8"),
        (b"two%0Alines", "control"),
    ],
)
async def test_the_middleware_refuses_a_bad_name(client: httpx.AsyncClient, raw: bytes, words: str) -> None:
    response = await client.post(
        "/v1/messages", headers=[(NAME.header.encode(), raw)], json={"model": "claude-sonnet-4-5"}
    )
    assert response.status_code == 400
    message = json.loads(response.content)["error"]["message"]
    assert message.startswith("invalid session header: header x-session-tracking-name:") and words in message


@pytest.mark.anyio
async def test_other_x_headers_still_refuse_non_ascii(client: httpx.AsyncClient) -> None:
    sent = [(b"x-note", "ü".encode()), (NAME.header.encode(), b"auth module %C3%BC")]
    response = await client.post("/v1/messages", headers=sent, json={"model": "claude-sonnet-4-5"})
    assert response.status_code == 400
    assert "x-note: only ASCII" in response.json()["error"]["message"]


# --------------------------------------------------------------------------- the span


def test_the_span_carries_the_decoded_name() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for name in (CJK_100, EMOJI):
        with provider.get_tracer("t").start_as_current_span("s") as span:
            set_session_attributes(span, {"requester_metadata": {"session_name": name}}, defaults={})
    assert [s.attributes["session.name"] for s in exporter.get_finished_spans()] == [CJK_100, EMOJI]
    provider.shutdown()
