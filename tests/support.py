"""Shared helpers for the tests: a running stack, requests through the proxy, spans read back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from claude_session.core import fields
from claude_session.phoenix.client import PhoenixClient
from claude_session.stack.local import LocalStack
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key

REPO = Path(__file__).resolve().parent.parent
LAUNCHER = REPO / "scripts" / "claude-session"
MODEL = "claude-sonnet-4-5"
# LiteLLM makes these spans per request; `litellm_request` is the LLM call itself.
LLM_SPAN = "litellm_request"
# A model neither LiteLLM's bundled price map nor Phoenix's table knows; the test
# stack prices it through a price file (`claude-session up --prices`).
UNLISTED_MODEL = "claude-test-unlisted-1"
# Attribute values Phoenix's REST span filter (`attribute=k:v`) matches exactly.
REST_FILTERABLE = re.compile(r"[A-Za-z0-9._-]+")


@dataclass
class Stack:
    settings: StackSettings
    state: StatePaths
    master_key: str
    phoenix: PhoenixClient
    env: dict[str, str] = field(default_factory=dict)  # env for launcher subprocesses

    @property
    def proxy_url(self) -> str:
        return self.settings.proxy_url

    @property
    def project(self) -> str:
        return self.settings.project

    def auth(self) -> dict[str, str]:
        return {fields.PROXY_KEY_HEADER: self.master_key}

    def messages(
        self,
        session: Mapping[str, str] | None = None,
        stream: bool = False,
        prompt: str = "hello",
        extra_headers: Mapping[str, str] | None = None,
        path: str = "/v1/messages?beta=true",
        client: httpx.Client | None = None,
        model: str = MODEL,
    ) -> httpx.Response:
        """One Anthropic Messages request through the proxy, as Claude Code sends it."""
        headers = {**self.auth(), "content-type": "application/json", "anthropic-version": "2023-06-01"}
        headers.update(fields.to_headers(session or {}))
        headers.update(extra_headers or {})
        body = {
            "model": model,
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        }
        own = client or httpx.Client(timeout=60)
        try:
            response = own.post(self.proxy_url + path, headers=headers, content=json.dumps(body))
            response.read()
            return response
        finally:
            if client is None:
                own.close()

    def launcher(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
        stdin: Any = subprocess.DEVNULL,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LAUNCHER), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=stdin,
        )


def wait_for_spans(
    stack: Stack,
    attributes: Mapping[str, str],
    count: int,
    name: str | None = LLM_SPAN,
    timeout: float = 45.0,
) -> list[dict[str, Any]]:
    """Poll Phoenix until at least `count` spans match (the exporter batches every few seconds).

    Phoenix's REST `attribute=k:v` filter matches nothing for a value with a space or a
    non-ASCII character, so only plain values are sent to Phoenix; every value is compared
    here too, exactly. Give at least one plain value (a session.id, a type) with a name.
    """
    server_side = {k: v for k, v in attributes.items() if REST_FILTERABLE.fullmatch(v)}
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [
            span
            for span in stack.phoenix.spans(stack.project, server_side)
            if (name is None or span["name"] == name)
            and all(span["attributes"].get(k) == v for k, v in attributes.items())
        ]
        if len(found) >= count:
            return found
        time.sleep(1.0)
    raise AssertionError(f"expected {count} spans with {dict(attributes)}, Phoenix has {len(found)}")


def assert_no_secret(stack: Stack, spans: list[dict[str, Any]], secrets: tuple[str, ...]) -> None:
    """No credential on any span read back from Phoenix, nor in any log file of the stack."""
    for span in spans:
        dumped = json.dumps(span)
        for secret in secrets:
            assert secret not in dumped, f"a credential on span {span['name']}"
    for log in stack.state.root.glob("logs/*.log"):
        text = log.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a credential in {log.name}"


def session_of(span: Mapping[str, Any]) -> dict[str, Any]:
    """The session.* and claude_code.* attributes of a span."""
    return {k: v for k, v in span["attributes"].items() if k.startswith(("session.", "claude_code."))}


def test_env(state_dir: Path) -> dict[str, str]:
    """The environment launcher subprocesses run with: this test stack's state, no user session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_SESSION", "CLAUDE_SESSION_"))}
    env.pop("PHOENIX_PROMPT_VERSION", None)
    env.pop("ANTHROPIC_CUSTOM_HEADERS", None)
    env.pop("ANTHROPIC_BASE_URL", None)
    env["CLAUDE_SESSION_STATE_DIR"] = str(state_dir)
    return env


@contextmanager
def running_stack(
    state_dir: Path, project: str, extra_env: Mapping[str, str] | None = None, **overrides: object
) -> Iterator[Stack]:
    """An offline stack on free ports, started the way `claude-session up --offline` starts it,
    from the test environment; everything started is stopped by PID at the end."""
    state = StatePaths(state_dir)
    settings = StackSettings.on_free_ports(offline=True, project=project, **overrides)
    env = {**test_env(state_dir), **(extra_env or {})}
    local = LocalStack(settings, state, env)
    try:
        local.up()
        yield Stack(
            settings=settings,
            state=state,
            master_key=master_key(state, create=False) or "",
            phoenix=PhoenixClient(settings.phoenix_base),
            env=env,
        )
    finally:
        local.down()
