"""Access: the proxy wants its key, everything listens on 127.0.0.1, no credential leaks on error paths."""

from __future__ import annotations

import importlib.util
import uuid

import httpx
import pytest

from claude_session.core import fields
from claude_session.session import launcher
from tests.faults.helpers import is_loopback, listening_addresses, pid_of
from tests.support import MODEL, Stack, assert_no_secret, wait_for_spans

BODY = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
LLM_ROUTES = ["/v1/messages", "/v1/messages/count_tokens", "/anthropic/v1/messages", "/chat/completions"]


@pytest.mark.parametrize("route", LLM_ROUTES)
@pytest.mark.parametrize(
    "credential",
    [
        {},
        {fields.PROXY_KEY_HEADER: "sk-not-the-master-key"},
        {"authorization": "Bearer sk-not-the-master-key"},
    ],
    ids=["no-key", "wrong-proxy-key", "wrong-bearer"],
)
def test_llm_routes_refuse_requests_without_the_master_key(
    live_stack: Stack, route: str, credential: dict[str, str]
) -> None:
    response = httpx.post(live_stack.proxy_url + route, json=BODY, headers=credential, timeout=30)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize("route", ["/v1/models", "/model/info", "/key/list", "/global/spend"])
def test_admin_routes_refuse_requests_without_the_master_key(live_stack: Stack, route: str) -> None:
    assert httpx.get(live_stack.proxy_url + route, timeout=30).status_code == 401


def test_proxy_listens_on_loopback_only(live_stack: Stack) -> None:
    listening = listening_addresses(pid_of(live_stack, "proxy"))
    assert live_stack.settings.proxy_port in listening
    assert listening == {live_stack.settings.proxy_port: {"127.0.0.1"}}


def test_phoenix_http_and_the_fake_upstream_listen_on_loopback_only(live_stack: Stack) -> None:
    phoenix = listening_addresses(pid_of(live_stack, "phoenix"))
    assert phoenix[live_stack.settings.phoenix_port] == {"127.0.0.1"}
    others = dict(phoenix)
    if importlib.util.find_spec("claude_session.stack.phoenix_server") is None:
        # `phoenix serve` 20.26 always binds its OTLP/gRPC port on every interface ([::]).
        others.pop(live_stack.settings.phoenix_grpc_port, None)
    assert all(is_loopback(ip) for ips in others.values() for ip in ips), phoenix
    upstream = listening_addresses(pid_of(live_stack, "upstream"))
    assert upstream == {live_stack.settings.upstream_port: {"127.0.0.1"}}


def test_no_credential_on_error_spans_or_in_the_logs(live_stack: Stack) -> None:
    """Failed requests (upstream 429/500/drop, a refused session header) write tracebacks and
    ERROR spans: the client's key, its bearer token and the master key appear in none."""
    client_key = "sk-ant-api03-FAULTKEY-" + uuid.uuid4().hex
    bearer = "sk-ant-oat01-FAULTBEARER-" + uuid.uuid4().hex
    session = launcher.Session.new("security", "v2", "error paths").as_metadata()
    credentials = ({"x-api-key": client_key}, {"authorization": f"Bearer {bearer}"})
    for fault in ("429", "500", "drop"):
        for credential in credentials:
            headers = {"x-fake-fault": fault, "x-litellm-num-retries": "0", **credential}
            response = live_stack.messages(session, stream=fault == "drop", extra_headers=headers)
            assert response.status_code in (200, 429, 500), response.text
    refused = live_stack.messages(
        session, extra_headers={"x-session-tracking-type": "bad type!", "x-api-key": client_key}
    )
    assert refused.status_code == 400
    spans = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 6)
    every = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 12, name=None)
    assert {span["status_code"] for span in spans} == {"ERROR"}
    assert_no_secret(live_stack, every, (client_key, bearer, live_stack.master_key))
