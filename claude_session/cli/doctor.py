"""`claude-session doctor`: the guide's troubleshooting checklist, run for you.

Each step says what it checked; the first failing step is the one to fix.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice

from claude_session.cli.context import Context
from claude_session.core import fields
from claude_session.core.errors import ClaudeSessionError
from claude_session.phoenix.client import KEY_HINT, PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.proxy import spool_files
from claude_session.session import launcher
from claude_session.stack import procs
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths, master_key


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


def main(argv: list[str], ctx: Context) -> int:
    from claude_session.cli.parser import Parser

    Parser(
        prog="claude-session doctor", description="Check proxy, Phoenix, OTLP and the last span."
    ).parse_args(argv)
    state = ctx.state
    settings = StackSettings.recorded(state)
    if settings is None:
        print("FAIL  stack recorded: none in " + str(state.root) + "; start it with `claude-session up`")
        return 1
    api_key = settings.phoenix_api_key(ctx.environ)  # the recorded key file, else $PHOENIX_API_KEY
    checks: list[tuple[str, Callable[[], str]]] = [
        ("proxy answers", lambda: _proxy_alive(settings)),
        ("proxy accepts its key", lambda: _proxy_key(settings, state)),
        ("Phoenix answers", lambda: _phoenix_alive(settings)),
        ("OTLP endpoint reachable", lambda: _otlp(settings, api_key)),
        ("span spool", lambda: spool_files.describe(state.spool)),
        ("Claude Code installed", lambda: launcher.find_claude(ctx.environ)),
        ("session on the last span", lambda: _last_span(settings, ctx.environ, api_key)),
    ]
    steps = []
    for name, check in checks:
        try:
            steps.append(Step(name, True, check()))
        except ClaudeSessionError as err:
            steps.append(Step(name, False, str(err)))
    for step in steps:
        print(f"{'ok  ' if step.ok else 'FAIL'}  {step.name}: {step.detail}")
    failed = [s for s in steps if not s.ok]
    if failed:
        print(f"first failing step: {failed[0].name}")
        return 1
    return 0


def _proxy_alive(settings: StackSettings) -> str:
    url = settings.proxy_url + "/health/liveliness"
    if not procs.http_ok(url):
        raise ClaudeSessionError(f"no answer at {url}; start it with `claude-session up`, see logs/proxy.log")
    return settings.proxy_url


def _proxy_key(settings: StackSettings, state: StatePaths) -> str:
    key = master_key(state, create=False)
    if not key:
        raise ClaudeSessionError("no master key in the state directory; run `claude-session up`")
    request = urllib.request.Request(
        settings.proxy_url + "/v1/models", headers={fields.PROXY_KEY_HEADER: key}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return f"HTTP {resp.status} with the key from the state directory"
    except urllib.error.HTTPError as err:
        raise ClaudeSessionError(
            f"the proxy answered {err.code} to its own key: was it started from another state dir?"
        ) from None
    except OSError as err:
        raise ClaudeSessionError(f"cannot reach the proxy: {err}") from None


def _phoenix_alive(settings: StackSettings) -> str:
    if not PhoenixClient(settings.phoenix_base, timeout=5).healthy():
        raise ClaudeSessionError(f"no answer at {settings.phoenix_base}/healthz; see logs/phoenix.log")
    return settings.phoenix_base


def _otlp(settings: StackSettings, api_key: str | None) -> str:
    url = settings.phoenix_base + "/v1/traces"
    try:
        answer = PhoenixClient(settings.phoenix_base, timeout=10, api_key=api_key).export_nothing()
    except PhoenixError as err:
        raise ClaudeSessionError(f"{url} unreachable: {err}") from None
    if answer.status in (401, 403):
        raise ClaudeSessionError(f"Phoenix refused the export: missing or wrong API key ({KEY_HINT})")
    if not 200 <= answer.status < 300:
        raise ClaudeSessionError(f"{url} answered {answer.status}")
    detail = f"{url} HTTP {answer.status}"
    if settings.phoenix_url is None:
        with socket.socket() as sock:
            sock.settimeout(3)
            if sock.connect_ex(("127.0.0.1", settings.phoenix_grpc_port)) != 0:
                raise ClaudeSessionError(
                    f"OTLP/gRPC port {settings.phoenix_grpc_port} does not accept connections"
                )
        detail += f"; gRPC :{settings.phoenix_grpc_port} open"
    return detail


def _last_span(settings: StackSettings, environ: Mapping[str, str], api_key: str | None) -> str:
    client = PhoenixClient(settings.phoenix_base, api_key=api_key)
    mine = launcher.current_from_env(environ).get(fields.SESSION_ID.key)
    if mine:
        spans = list(islice(client.spans(settings.project, {"session.id": mine}, page_size=5), 1))
        if not spans:
            raise ClaudeSessionError(
                f"no span yet for this terminal's session {mine}; run a prompt, wait ~5 s"
            )
        return f"this terminal's session {mine} is on its spans"
    spans = list(islice(client.spans(settings.project, page_size=20, span_names=["litellm_request"]), 1))
    if not spans:
        return f"no LLM span yet in project {settings.project}; run a prompt with claude-session first"
    attrs = spans[0]["attributes"]
    tagged = {f.attribute: attrs[f.attribute] for f in fields.FIELDS if f.attribute in attrs}
    if fields.SESSION_ID.attribute not in tagged:
        raise ClaudeSessionError(
            "the last LLM span carries no session.id: are the patches applied (scripts/install)?"
        )
    return ", ".join(f"{k}={v}" for k, v in tagged.items())
