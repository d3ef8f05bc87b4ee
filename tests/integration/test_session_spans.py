"""Session-tagged spans arrive in a real Phoenix through the real patched proxy (issue: foundation)."""

from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest

from claude_session.core import fields
from claude_session.session import launcher
from tests.support import UNLISTED_MODEL, Stack, assert_no_secret, session_of, wait_for_spans


def _session(kind: str, version: str, name: str | None = "spans-test") -> dict[str, str]:
    return launcher.Session.new(kind, version, name).as_metadata()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_messages_span_carries_session_tokens_cost_latency(live_stack: Stack, stream: bool) -> None:
    session = _session("code-review", "v2")
    conversation = str(uuid.uuid4())
    prompt = "Review the auth module [[usage in=120 out=30 cache_read=40 cache_write=8]]"
    response = live_stack.messages(
        session, stream=stream, prompt=prompt, extra_headers={fields.CLAUDE_CODE_HEADER: conversation}
    )
    assert response.status_code == 200, response.text

    (span,) = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 1)
    attrs = span["attributes"]
    assert session_of(span) == {
        "session.id": session["session_id"],
        "session.type": "code-review",
        "session.prompt_version": "v2",
        "session.name": "spans-test",
        "claude_code.session_id": conversation,
    }
    # LiteLLM reports prompt tokens including the cached ones.
    assert attrs["llm.token_count.prompt"] == 120 + 40 + 8
    assert attrs["llm.token_count.completion"] == 30
    assert attrs["llm.token_count.prompt_details.cache_read"] == 40
    assert attrs["llm.token_count.prompt_details.cache_write"] == 8
    assert attrs["llm.cost.total"] > 0
    assert span["end_time"] > span["start_time"]


def test_session_id_is_never_claude_codes_user_id_json(live_stack: Stack) -> None:
    conversation = str(uuid.uuid4())
    user_id = json.dumps({"device_id": "d" * 16, "account_uuid": "", "session_id": conversation})
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 16,
        "metadata": {"user_id": user_id},
        "messages": [{"role": "user", "content": "untagged request from Claude Code"}],
    }
    response = httpx.post(
        live_stack.proxy_url + "/v1/messages", headers=live_stack.auth(), json=body, timeout=60
    )
    assert response.status_code == 200, response.text
    (span,) = wait_for_spans(live_stack, {"claude_code.session_id": conversation}, 1)
    # No tracked session: the conversation id stands in, never the JSON string.
    assert span["attributes"]["session.id"] == conversation


def test_concurrent_sessions_do_not_mix(live_stack: Stack) -> None:
    sessions = [_session("debugging", "v1", "mix-a"), _session("documentation", "v3", "mix-b")]
    errors: list[str] = []

    def client(session: dict[str, str], stream: bool) -> None:
        with httpx.Client(timeout=60) as http:
            for _ in range(12):
                response = live_stack.messages(session, stream=stream, client=http)
                if response.status_code != 200:
                    errors.append(response.text)

    threads = [threading.Thread(target=client, args=(s, i == 1)) for i, s in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

    for session in sessions:
        spans = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 12)
        assert len(spans) == 12
        for span in spans:
            attrs = session_of(span)
            assert attrs["session.type"] == session["session_type"]
            assert attrs["session.prompt_version"] == session["prompt_version"]
            assert attrs["session.name"] == session["session_name"]


def test_pass_through_route_is_tagged(live_stack: Stack) -> None:
    session = _session("testing", "v4", "pass-through")
    response = live_stack.messages(session, stream=True, path="/anthropic/v1/messages")
    assert response.status_code == 200, response.text
    assert "message_stop" in response.text
    spans = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 1)
    assert session_of(spans[0])["session.type"] == "testing"
    assert session_of(spans[0])["session.prompt_version"] == "v4"


def test_no_secret_on_any_span_or_log_line(live_stack: Stack) -> None:
    client_key = "sk-ant-api03-CLIENTSECRET-" + uuid.uuid4().hex
    bearer = "sk-ant-oat01-OAUTHSECRET-" + uuid.uuid4().hex
    session = _session("security", "v1", "secrets")
    for path in ("/v1/messages", "/anthropic/v1/messages"):
        for credential in ({"x-api-key": client_key}, {"authorization": f"Bearer {bearer}"}):
            response = live_stack.messages(session, path=path, extra_headers=credential)
            assert response.status_code == 200, response.text
    spans = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 4, name=None)
    assert_no_secret(live_stack, spans, (client_key, bearer, live_stack.master_key))


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-session-tracking-type", "a:b"),
        ("x-session-tracking-name", "x" * 101),
        ("x-session-tracking-prompt-version", "v1;drop"),
    ],
)
def test_bad_session_header_gets_400_not_a_span(live_stack: Stack, header: str, value: str) -> None:
    response = live_stack.messages(extra_headers={header: value})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"invalid session header: header {header}")


def test_unknown_or_missing_proxy_key_gets_401(live_stack: Stack) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    missing = httpx.post(live_stack.proxy_url + "/v1/messages", json=body, timeout=30)
    wrong = httpx.post(
        live_stack.proxy_url + "/v1/messages",
        json=body,
        headers={fields.PROXY_KEY_HEADER: "sk-not-the-master-key"},
        timeout=30,
    )
    assert missing.status_code == 401
    assert "x-litellm-api-key" in missing.json()["error"]["message"]
    assert wrong.status_code == 401
    assert "Invalid proxy key" in wrong.json()["error"]["message"]


def test_header_with_newline_is_refused_and_proxy_keeps_serving(live_stack: Stack) -> None:
    """A raw request whose session header smuggles a second header line never reaches a span."""
    import socket

    body = json.dumps(
        {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    )
    request = (
        "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{fields.PROXY_KEY_HEADER}: {live_stack.master_key}\r\n"
        "content-type: application/json\r\n"
        "x-session-tracking-type: code-review\rx-evil: 1\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n{body}"
    ).encode()
    with socket.create_connection(("127.0.0.1", live_stack.settings.proxy_port), timeout=30) as sock:
        sock.sendall(request)
        answer = sock.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 400"), answer[:200]
    assert live_stack.messages().status_code == 200


def test_phoenix_prices_an_unlisted_model_like_litellm(live_stack: Stack) -> None:
    """Phoenix knew no price for this model; the stack registered LiteLLM's, so both costs agree."""
    session = _session("pricing", "v1", "unlisted")
    prompt = "price me [[usage in=1000 out=200 cache_read=300 cache_write=50]]"
    response = live_stack.messages(session, prompt=prompt, model=UNLISTED_MODEL)
    assert response.status_code == 200, response.text
    (span,) = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 1)
    litellm_cost = span["attributes"]["llm.cost.total"]
    expected = (1000 * 4.0 + 200 * 20.0 + 300 * 0.4 + 50 * 5.0) / 1_000_000
    assert litellm_cost == pytest.approx(expected)
    query = "query($id: ID!) { node(id: $id) { ... on Span { costSummary { total { cost } } } } }"
    phoenix_cost = live_stack.phoenix.graphql(query, {"id": span["id"]})["node"]["costSummary"]["total"][
        "cost"
    ]
    assert phoenix_cost == pytest.approx(litellm_cost)
