"""The developer's identity (`session.user`): validation, the launcher's choice, the header, the
proxy's middleware (in process, through an ASGI client), the span attribute (in-memory exporter)
and the report's Phoenix filters."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from claude_session.cli import identity
from claude_session.cli import main as cli
from claude_session.core import fields
from claude_session.core.errors import UsageError
from claude_session.phoenix.filters import root_condition, span_condition
from claude_session.proxy.middleware import SessionMetadataMiddleware, current_session, tag_request
from claude_session.proxy.span_attributes import set_session_attributes
from claude_session.report.fetch import GROUP_BY, Selection
from claude_session.session import custom_headers as headers
from claude_session.session.errors import SessionError
from claude_session.session.launcher import Session, session_env
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key

USER = fields.SESSION_USER
ALICE = "alice.obrien+work@example.com"


# --- the field ---


@pytest.mark.parametrize(
    "value",
    ["alice@example.com", "first.last+tag@sub.example.co", "bob", "ci-bot_2", "a" * 254],
)
def test_user_accepts_email_like_ascii(value: str) -> None:
    assert fields.validate(USER, value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a" * 255,
        "alice smith@example.com",
        "élodie@example.com",
        "alice@example.com\nx-evil: 1",
        "<alice@example.com>",
        "@example.com",
        "alice%40example.com",
        "alice;drop",
        " alice",
    ],
)
def test_user_refuses_anything_else_without_echoing_it(value: str) -> None:
    with pytest.raises(fields.InvalidSessionValue) as refused:
        fields.validate(USER, value)
    message = str(refused.value)
    assert message.startswith("--user: ")
    assert "\n" not in message
    if value.strip():
        assert value not in message


def test_user_is_a_header_field_but_not_a_proxy_wide_one() -> None:
    assert fields.FIELD_BY_HEADER["x-session-tracking-user"] is USER
    assert USER.attribute == "session.user"
    assert USER not in fields.FIELDS
    assert USER.key not in fields.SESSION_KEYS  # the proxy-wide endpoint refuses it
    assert fields.from_env({USER.env: "alice@example.com"}) == {}
    assert fields.to_env({USER.key: "alice@example.com"}) == {}


def test_header_round_trip() -> None:
    sent = fields.to_headers({"session_id": "s-1", USER.key: ALICE})
    assert sent == {"x-session-tracking-id": "s-1", "x-session-tracking-user": ALICE}
    assert fields.from_headers(sent.items()) == {"session_id": "s-1", USER.key: ALICE}
    with pytest.raises(fields.InvalidSessionValue, match="header x-session-tracking-user: only"):
        fields.from_headers([("x-session-tracking-user", "no spaces@x")])


# --- the launcher ---


def test_custom_headers_carry_the_user_and_replace_a_stale_one() -> None:
    session = Session.new("code-review", "v2", None, "s-1", user=ALICE)
    merged = headers.merge(
        "X-Session-Tracking-User: mallory@example.com\nx-mine: 1", session.request_metadata(), "k"
    )
    lines = merged.splitlines()
    assert "x-mine: 1" in lines
    assert f"x-session-tracking-user: {ALICE}" in lines
    assert not any("mallory" in line for line in lines)
    assert USER.key not in session.as_metadata()  # never part of a proxy-wide session
    assert "user " + ALICE in session.label()


def test_session_env_sends_the_user_to_claude_code(tmp_path: Path) -> None:
    state = StatePaths(tmp_path)
    state.ensure()
    master_key(state)
    session = Session.new("code-review", "v2", None, "s-1", user=ALICE)
    env = session_env(session, StackSettings(offline=True), state, {"ANTHROPIC_CUSTOM_HEADERS": "x-mine: 1"})
    lines = env["ANTHROPIC_CUSTOM_HEADERS"].splitlines()
    assert lines[0] == "x-mine: 1"
    assert f"x-session-tracking-user: {ALICE}" in lines
    assert "x-session-tracking-id: s-1" in lines


def test_no_user_no_header() -> None:
    session = Session.new("code-review", "v2", None, "s-1")
    assert "x-session-tracking-user" not in headers.merge(None, session.request_metadata(), "k")


def test_an_invalid_user_stops_the_session_with_exit_2() -> None:
    with pytest.raises(SessionError) as refused:
        Session.new("t", "v1", None, user="not an address")
    assert refused.value.exit_code == 2


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose git sees only a config file of its own (no system or user config)."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    path = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True).stdout.strip()
    if not path:
        pytest.skip("git is not installed")
    return {
        "PATH": str(Path(path).parent),
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_DIR": str(tmp_path / "no-repo"),
    }


def _set_git_email(env: dict[str, str], email: str) -> None:
    subprocess.run(["git", "config", "--global", "user.email", email], env=env, check=True)


@pytest.mark.slow  # runs git
def test_the_default_is_git_user_email(git_env: dict[str, str]) -> None:
    assert identity.resolve_user(None, False, git_env) is None  # not set: nothing
    _set_git_email(git_env, "dev@example.com")
    assert identity.resolve_user(None, False, git_env) == "dev@example.com"


@pytest.mark.slow  # runs git
def test_option_then_env_then_git_and_both_ways_to_turn_it_off(git_env: dict[str, str]) -> None:
    _set_git_email(git_env, "dev@example.com")
    with_env = {**git_env, "CLAUDE_SESSION_USER": "ci-bot"}
    assert identity.resolve_user("alice", False, with_env) == "alice"
    assert identity.resolve_user(None, False, with_env) == "ci-bot"
    assert identity.resolve_user(None, False, {**git_env, "CLAUDE_SESSION_USER": ""}) is None
    assert identity.resolve_user(None, True, with_env) is None


@pytest.mark.slow  # runs git
def test_an_unusable_git_address_is_skipped_with_a_warning(
    git_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _set_git_email(git_env, "Dev Name <dev@example.com>")
    assert identity.resolve_user(None, False, git_env) is None
    warning = capsys.readouterr().err
    assert "not usable as the session user" in warning and "dev@example.com" not in warning


@pytest.mark.slow  # runs git
def test_an_invalid_explicit_user_is_a_usage_error(git_env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match=r"^--user: only"):
        identity.resolve_user("two words", False, git_env)
    with pytest.raises(UsageError, match=r"^CLAUDE_SESSION_USER: only"):
        identity.resolve_user(None, False, {**git_env, "CLAUDE_SESSION_USER": "a\tb"})


@pytest.mark.slow  # runs git
def test_no_git_on_path_means_no_user(tmp_path: Path) -> None:
    assert identity.git_user_email({"PATH": str(tmp_path)}) is None


def test_user_and_no_user_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--user", "a", "--no-user", "hi"], {"CLAUDE_SESSION_STATE_DIR": "/nonexistent"}) == 2
    assert "not allowed with argument" in capsys.readouterr().err


# --- the proxy: middleware ---


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _endpoint(request: Request) -> JSONResponse:
    raw = await request.body()
    data: Any = json.loads(raw) if raw else {}
    tag_request(data)
    return JSONResponse({"session": current_session(), "data": data})


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = SessionMetadataMiddleware(Starlette(routes=[Route("/v1/messages", _endpoint, methods=["POST"])]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://proxy.test"
    ) as http:
        yield http


@pytest.mark.anyio
async def test_middleware_tags_the_request_with_its_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/messages",
        headers={"x-session-tracking-id": "s-1", "X-Session-Tracking-User": ALICE},
        json={"model": "claude-sonnet-4-5", "litellm_metadata": {}},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["session"] == {"session_id": "s-1", USER.key: ALICE}
    assert body["data"]["litellm_metadata"]["requester_metadata"][USER.key] == ALICE


@pytest.mark.anyio
async def test_middleware_refuses_a_bad_user_without_echoing_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/messages",
        headers={"x-session-tracking-user": "evil<script>"},
        json={"model": "claude-sonnet-4-5"},
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "x-session-tracking-user" in message and "evil" not in message


# --- the proxy: span attribute ---


def _exported(
    provider: TracerProvider, exporter: InMemorySpanExporter, requester: object, defaults: dict[str, str]
) -> dict[str, Any]:
    exporter.clear()
    with provider.get_tracer("tests.session_user").start_as_current_span("litellm_request") as span:
        set_session_attributes(span, {"requester_metadata": requester}, defaults=defaults)
    (finished,) = exporter.get_finished_spans()
    exporter.clear()
    return dict(finished.attributes or {})


def test_span_gets_session_user(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    attributes = _exported(provider, exporter, {"session_id": "s-1", USER.key: ALICE}, {})
    assert attributes["session.user"] == ALICE
    assert attributes["session.id"] == "s-1"
    assert "user.id" not in attributes


def test_span_never_gets_an_invalid_or_absent_user(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    for requester in ({USER.key: "a b"}, {USER.key: 42}, {"session_id": "s-1"}):
        attributes = _exported(provider, exporter, requester, {"session_id": "d-1", "session_type": "t"})
        assert "session.user" not in attributes, requester


# --- the report ---


def test_report_filters_select_the_user() -> None:
    assert "user" in GROUP_BY
    selection = Selection({"user": ALICE})
    assert span_condition({"user": ALICE}) == f"name == 'litellm_request' and session.user == '{ALICE}'"
    assert root_condition({"user": ALICE}) == f"attributes['session']['user'] == '{ALICE}'"
    assert selection.span_filter("type", "t").endswith(
        "session.user == '" + ALICE + "' and session.type == 't'"
    )
