"""Online mode: the client's own Anthropic credential reaches upstream untouched; the proxy key never.

The proxy runs as in online mode (no offline flag, no server-side Anthropic key),
pointed at the fake upstream through CLAUDE_SESSION_ANTHROPIC_URL so what arrives
upstream can be inspected.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from claude_session.core import fields
from claude_session.stack import procs
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key
from tests.support import Stack


@pytest.fixture(scope="module")
def online_proxy(live_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    state = StatePaths(tmp_path_factory.mktemp("online-state"))
    state.ensure()
    settings = StackSettings(
        proxy_port=procs.free_port(),
        offline=False,
        phoenix_url=live_stack.settings.phoenix_base,  # external: only the proxy starts
        project=live_stack.project,
        anthropic_url=live_stack.settings.upstream_url,
    )
    environ = {k: v for k, v in live_stack.env.items() if k != "ANTHROPIC_API_KEY"}
    online = LocalStack(settings, state, environ)
    try:
        online.up()
        yield settings.proxy_url, master_key(state, create=False) or ""
    finally:
        online.down()


def _last_upstream_request(live_stack: Stack) -> dict:
    recorded = httpx.get(live_stack.settings.upstream_url + "/_fake/requests", timeout=10).json()
    return recorded["requests"][-1]


@pytest.mark.parametrize(
    "credential",
    [
        {"authorization": "Bearer sk-ant-oat01-subscription-token-1234567890"},
        {"x-api-key": "sk-ant-api03-client-key-1234567890"},
    ],
    ids=["subscription-oauth", "api-key"],
)
def test_client_credential_reaches_upstream_and_proxy_key_does_not(
    live_stack: Stack, online_proxy: tuple[str, str], credential: dict[str, str]
) -> None:
    proxy_url, key = online_proxy
    marker = f"credential-check-{next(iter(credential))}"
    response = httpx.post(
        proxy_url + "/v1/messages",
        headers={fields.PROXY_KEY_HEADER: key, **credential, "anthropic-version": "2023-06-01"},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 8,
            "messages": [{"role": "user", "content": marker}],
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    upstream = _last_upstream_request(live_stack)
    name, value = next(iter(credential.items()))
    assert upstream["headers"].get(name) == value
    assert fields.PROXY_KEY_HEADER not in upstream["headers"]
    assert key not in str(upstream["headers"])
