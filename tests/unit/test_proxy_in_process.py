"""The patched LiteLLM request path in process: what its spans carry, read from an in-memory exporter.

The real proxy app (patches 0001, 0002, 0004, 0006-0009 and claude_session.proxy), configured
as `claude-session up --offline` configures it, in front of the fake upstream
(tests/unit/proxy_harness.py says how). Requests carry the headers the launcher
builds; figures are checked against what the fake was asked for and hand-computed prices.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from claude_session.core import fields
from claude_session.session import custom_headers, launcher
from tests.unit.proxy_harness import PAUSE_SECONDS, InProcessProxy, running_proxy

MODEL = "claude-sonnet-4-5"
# Anthropic's list prices for Claude Sonnet 4.5, US$ per million tokens (5-minute cache writes).
SONNET_PER_MTOK = {"input": 3.0, "output": 15.0, "cache_read": 0.30, "cache_write": 3.75}
# A model no bundled price map knows, priced by the stack's price file (as tests/conftest.py).
UNLISTED_MODEL = "claude-test-unlisted-1"
UNLISTED_PER_MTOK = {"input": 4.0, "output": 20.0, "cache_read": 0.4, "cache_write": 5.0}
ROOT, CHILD = "litellm_proxy_request", "litellm_request"
REDACTED = "[redacted]"
ROOT_SUMMARY_CHARS = 300


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessProxy]:
    workdir = tmp_path_factory.mktemp("inproc-proxy")
    prices = workdir / "prices.yaml"
    prices.write_text(
        f"{UNLISTED_MODEL}:\n" + "".join(f"  {key}: {value}\n" for key, value in UNLISTED_PER_MTOK.items())
    )
    env_before = dict(os.environ)
    threads_before = set(threading.enumerate())
    with running_proxy(workdir / "state", prices_file=prices) as running:
        upstream = urllib.parse.urlsplit(running.upstream_url)
        yield running
    # The harness leaves nothing behind: environment, threads, the fake's listening socket.
    assert dict(os.environ) == env_before
    assert not set(threading.enumerate()) - threads_before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((upstream.hostname, upstream.port), timeout=5).close()


# --- requests as Claude Code sends them, with the launcher's headers ---


def claude_code_headers(
    proxy: InProcessProxy, session: launcher.Session | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """ANTHROPIC_CUSTOM_HEADERS as the launcher builds it, sent line by line as Claude Code does."""
    lines = custom_headers.merge(None, session.request_metadata() if session else {}, proxy.master_key)
    headers = dict(custom_headers.parse(lines))
    headers.update({"anthropic-version": "2023-06-01", "x-api-key": "sk-offline-fake-upstream"})
    headers.update(extra or {})
    return headers


def send(
    proxy: InProcessProxy,
    headers: Mapping[str, str | bytes],
    prompt: str = "hello",
    stream: bool = False,
    model: str = MODEL,
    path: str = "/v1/messages?beta=true",
    metadata: Mapping[str, object] | None = None,
) -> Any:
    body: dict[str, object] = {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    }
    if metadata is not None:
        body["metadata"] = dict(metadata)
    response = proxy.client.post(path, headers=dict(headers), json=body)
    assert response.status_code in (200, 400, 401), response.text
    return response


def new_session(kind: str, name: str | None = None, user: str | None = None) -> launcher.Session:
    return launcher.Session.new(kind, "v2", name, user=user)


# --- reading spans back ---


def with_attribute(key: str, value: str) -> Any:
    return lambda span: span.attributes.get(key) == value


def request_spans(proxy: InProcessProxy, key: str, value: str) -> tuple[ReadableSpan, ReadableSpan]:
    """The root and the LLM child of the one request whose spans carry key=value."""
    spans = proxy.wait_for_spans(with_attribute(key, value), 2)
    assert sorted(span.name for span in spans) == sorted([ROOT, CHILD]), [span.name for span in spans]
    (root,) = (span for span in spans if span.name == ROOT)
    (child,) = (span for span in spans if span.name == CHILD)
    return root, child


def session_of(span: ReadableSpan) -> dict[str, object]:
    return {k: v for k, v in (span.attributes or {}).items() if k.startswith(("session.", "claude_code."))}


def attributes(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def milliseconds(span: ReadableSpan) -> float:
    assert span.start_time is not None and span.end_time is not None
    return (span.end_time - span.start_time) / 1e6


def shortened(text: str) -> str:
    """The root span's summary: at most ROOT_SUMMARY_CHARS characters, an ellipsis marking a cut."""
    return text if len(text) <= ROOT_SUMMARY_CHARS else text[: ROOT_SUMMARY_CHARS - 1] + "…"


def cost(per_mtok: Mapping[str, float], tokens: Mapping[str, int]) -> float:
    return sum(per_mtok[kind] * count for kind, count in tokens.items()) / 1_000_000


# --- session attributes (patches 0001, 0002, 0004 and the session middleware) ---


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_launcher_session_user_and_conversation_on_both_spans(proxy: InProcessProxy, stream: bool) -> None:
    name = "Café review ✓ 東京"  # free text travels percent-encoded; the span has it decoded
    session = new_session("code-review", name, user="dev@example.com")
    conversation = str(uuid.uuid4())
    headers = claude_code_headers(proxy, session, {fields.CLAUDE_CODE_HEADER: conversation})
    assert headers["x-session-tracking-name"] != name
    assert send(proxy, headers, stream=stream).status_code == 200

    root, child = request_spans(proxy, "session.id", session.id)
    expected = {
        "session.id": session.id,
        "session.type": "code-review",
        "session.prompt_version": "v2",
        "session.name": name,
        "session.user": "dev@example.com",
        "claude_code.session_id": conversation,
    }
    assert session_of(child) == expected
    assert session_of(root) == expected


def test_gateway_hints_on_both_spans_and_a_bad_hint_dropped(proxy: InProcessProxy) -> None:
    hints = {
        "x-claude-code-request-class": "subagent",
        "x-claude-code-agent-type": "general-purpose",
        "x-claude-code-agent-id": "agent-7f3a",
        "x-claude-code-parent-agent-id": "agent-0001",
        "x-claude-code-prompt-id": "prompt-42",
        "x-claude-1p-request-class": "blocking-subagent",  # sent by Claude Code, not tracked
    }
    session = new_session("hints")
    assert send(proxy, claude_code_headers(proxy, session, hints)).status_code == 200
    root, child = request_spans(proxy, "session.id", session.id)
    expected = {
        "claude_code.request_class": "subagent",
        "claude_code.agent_type": "general-purpose",
        "claude_code.agent_id": "agent-7f3a",
        "claude_code.parent_agent_id": "agent-0001",
        "claude_code.prompt_id": "prompt-42",
    }
    for span in (root, child):
        assert {k: v for k, v in session_of(span).items() if k in expected} == expected

    # A hint is advice: a bad one is dropped, the request and the other hints go on.
    other = new_session("hints")
    bad = {**hints, "x-claude-code-agent-type": "general purpose; drop"}
    assert send(proxy, claude_code_headers(proxy, other, bad)).status_code == 200
    root, child = request_spans(proxy, "session.id", other.id)
    for span in (root, child):
        assert "claude_code.agent_type" not in attributes(span)
        assert attributes(span)["claude_code.request_class"] == "subagent"


def test_session_id_is_claude_codes_conversation_never_its_user_id_json(proxy: InProcessProxy) -> None:
    conversation = str(uuid.uuid4())
    user_id = json.dumps({"device_id": "d" * 16, "account_uuid": "", "session_id": conversation})
    response = send(proxy, claude_code_headers(proxy, None), metadata={"user_id": user_id})
    assert response.status_code == 200
    root, child = request_spans(proxy, "claude_code.session_id", conversation)
    for span in (root, child):
        assert attributes(span)["session.id"] == conversation


# --- the root/child split (patch 0008): the LLM call described once, on the child ---


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_tokens_cost_and_prompt_on_the_child_only(proxy: InProcessProxy, stream: bool) -> None:
    tokens = {"input": 1200, "output": 345, "cache_read": 600, "cache_write": 80}
    prompt = "Review this module line by line. " * 15 + (
        "[[usage in={input} out={output} cache_read={cache_read} cache_write={cache_write}]]".format(**tokens)
    )
    assert len(prompt) > ROOT_SUMMARY_CHARS
    session = new_session("split")
    assert send(proxy, claude_code_headers(proxy, session), prompt=prompt, stream=stream).status_code == 200
    root, child = request_spans(proxy, "session.id", session.id)

    llm = attributes(child)
    assert llm["openinference.span.kind"] == "LLM"
    assert llm["llm.model_name"] == MODEL
    # LiteLLM counts the cached tokens in the prompt.
    prompt_tokens = tokens["input"] + tokens["cache_read"] + tokens["cache_write"]
    assert llm["llm.token_count.prompt"] == prompt_tokens
    assert llm["llm.token_count.completion"] == tokens["output"]
    assert llm["llm.token_count.total"] == prompt_tokens + tokens["output"]
    assert llm["llm.token_count.prompt_details.cache_read"] == tokens["cache_read"]
    assert llm["llm.token_count.prompt_details.cache_write"] == tokens["cache_write"]
    assert llm["llm.cost.total"] == pytest.approx(cost(SONNET_PER_MTOK, tokens), rel=1e-9)
    assert llm["llm.input_messages.0.message.content"] == prompt

    summary = attributes(root)
    assert summary["openinference.span.kind"] == "CHAIN"
    assert not [key for key in summary if key.startswith("llm.")]
    assert summary["input.value"] == shortened(prompt)
    assert summary["output.value"] == shortened(llm["output.value"])
    assert len(llm["output.value"]) > ROOT_SUMMARY_CHARS  # 345 words asked for
    assert summary["input.mime_type"] == summary["output.mime_type"] == "text/plain"
    assert session_of(root) == session_of(child) != {}

    assert root.parent is None
    assert child.parent is not None and child.parent.span_id == root.context.span_id
    same_trace = [span for span in proxy.spans() if span.context.trace_id == root.context.trace_id]
    assert len(same_trace) == 2  # no raw_gen_ai_request span (the shipped tuning)
    for span in same_trace:
        assert not [key for key in attributes(span) if key.startswith("llm.None.")]


def test_an_unlisted_model_is_priced_from_the_stacks_price_file(proxy: InProcessProxy) -> None:
    tokens = {"input": 1000, "output": 200, "cache_read": 300, "cache_write": 50}
    prompt = "price me [[usage in=1000 out=200 cache_read=300 cache_write=50]]"
    session = new_session("pricing")
    headers = claude_code_headers(proxy, session)
    assert send(proxy, headers, prompt=prompt, model=UNLISTED_MODEL).status_code == 200
    _, child = request_spans(proxy, "session.id", session.id)
    assert attributes(child)["llm.model_name"] == UNLISTED_MODEL
    assert attributes(child)["llm.cost.total"] == pytest.approx(cost(UNLISTED_PER_MTOK, tokens), rel=1e-9)


# --- time to first token (patch 0009) ---


def test_time_to_first_token_on_a_streamed_child_only(proxy: InProcessProxy) -> None:
    # The fake holds the stream PAUSE_SECONDS after its first text delta, so the first token
    # comes about that long before the end of the reply (LiteLLM's start, first-chunk and end
    # times are taken a few ms off the wire: half the pause tells first token from end).
    streamed = new_session("ttft")
    headers = claude_code_headers(proxy, streamed)
    assert send(proxy, headers, prompt="hi [[fault:pause]]", stream=True).status_code == 200
    root, child = request_spans(proxy, "session.id", streamed.id)
    ttft = attributes(child)["claude_session.ttft_ms"]
    assert isinstance(ttft, float)
    assert 0 < ttft <= milliseconds(child) - PAUSE_SECONDS * 1000 / 2
    assert "claude_session.ttft_ms" not in attributes(root)

    whole = new_session("ttft")
    assert send(proxy, claude_code_headers(proxy, whole), stream=False).status_code == 200
    root, child = request_spans(proxy, "session.id", whole.id)
    assert "claude_session.ttft_ms" not in attributes(child)


# --- redaction (patch 0006): no credential on any span ---


def test_no_key_or_token_on_any_span_of_either_route(proxy: InProcessProxy) -> None:
    client_key = "sk-ant-api03-CLIENTSECRET-" + uuid.uuid4().hex
    bearer = "sk-ant-oat01-OAUTHSECRET-" + uuid.uuid4().hex
    secrets = (client_key, bearer, proxy.master_key)
    session = new_session("security")
    routes = ("/v1/messages?beta=true", "/anthropic/v1/messages")
    credentials = ({"x-api-key": client_key}, {"authorization": f"Bearer {bearer}"})
    for path in routes:
        for credential in credentials:
            headers = claude_code_headers(proxy, session, credential)
            assert send(proxy, headers, path=path, stream=True).status_code == 200

    spans = proxy.wait_for_spans(with_attribute("session.id", session.id), 2 * len(routes) * len(credentials))
    for span in spans:
        dumped = span.to_json()  # attributes, events, links and resource
        for secret in secrets:
            assert secret not in dumped, f"a credential on {span.name}"
        assert attributes(span)["session.type"] == "security"  # the pass-through route is tagged too
    # The credential headers were logged, redacted (so their absence above is the redaction's).
    logged = [
        json.loads(attributes(span)["metadata"])["requester_custom_headers"]
        for span in spans
        if span.name == CHILD and attributes(span)["llm.request.type"] == "pass_through_endpoint"
    ]
    assert len(logged) == len(credentials)
    for headers in logged:
        assert headers[fields.PROXY_KEY_HEADER] == REDACTED
        assert headers["x-api-key"] == REDACTED


# --- proxy-wide session (claude-session --proxy-wide, patches 0001 and 0007) ---


@pytest.fixture
def proxy_wide(proxy: InProcessProxy) -> Iterator[dict[str, str]]:
    """A proxy-wide session set through the proxy's own endpoint, as `--proxy-wide` sets it."""
    session = new_session("batch-review", "nightly run").as_metadata()
    route = "/claude-session/proxy-session"
    assert proxy.client.put(route, json=session).status_code == 401  # the master key is required
    answer = proxy.client.put(route, headers=proxy.auth(), json=session)
    assert answer.status_code == 200, answer.text
    yield session
    assert proxy.client.delete(route, headers=proxy.auth()).status_code == 200


def test_the_proxy_wide_session_tags_a_request_without_headers(
    proxy: InProcessProxy, proxy_wide: dict[str, str]
) -> None:
    marker = uuid.uuid4().hex
    response = send(proxy, claude_code_headers(proxy, None, {"x-claude-code-prompt-id": marker}))
    assert response.status_code == 200
    root, child = request_spans(proxy, "claude_code.prompt_id", marker)
    expected = {field.attribute: proxy_wide[field.key] for field in fields.FIELDS}
    for span in (root, child):
        assert {key: value for key, value in session_of(span).items() if key in expected} == expected
    # Also in the logged request metadata (patch 0001), which every logging integration gets.
    requester = json.loads(attributes(child)["metadata"])["requester_metadata"]
    assert {key: requester.get(key) for key in proxy_wide} == proxy_wide


def test_a_requests_own_session_wins_over_the_proxy_wide_one(
    proxy: InProcessProxy, proxy_wide: dict[str, str]
) -> None:
    own = launcher.Session.new("debugging", "v7", None)  # no name: the proxy-wide one fills it
    assert send(proxy, claude_code_headers(proxy, own)).status_code == 200
    root, child = request_spans(proxy, "session.id", own.id)
    for span in (root, child):
        assert attributes(span)["session.type"] == "debugging"
        assert attributes(span)["session.prompt_version"] == "v7"
        assert attributes(span)["session.name"] == proxy_wide["session_name"]


# --- bad input: refused, never on a span ---


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("x-session-tracking-type", b"-a:b", "only letters"),
        ("x-session-tracking-id", b" has space", "only letters"),
        ("x-session-tracking-prompt-version", b"v1;drop", "only letters"),
        ("x-session-tracking-user", b"dev<script>", "only letters"),
        ("x-session-tracking-name", b"x" * 101, "at most 100"),
        ("x-session-tracking-name", b"caf\xc3\xa9", "ASCII"),  # raw UTF-8: must be percent-encoded
        ("x-session-tracking-name", b"100%", "%25"),  # a bare '%'
        ("x-session-tracking-name", b"bad %zz escape", "%25"),
        ("x-session-tracking-name", b"%C3%28", "UTF-8"),  # escapes that are not UTF-8
        ("x-session-tracking-name", b"line%0Abreak", "control"),  # decoded, then refused
    ],
    ids=[
        "type-colon",
        "id-space",
        "version-semicolon",
        "user-angle-brackets",
        "name-101-chars",
        "name-raw-utf8",
        "name-bare-percent",
        "name-bad-escape",
        "name-not-utf8",
        "name-newline",
    ],
)
def test_a_bad_session_header_is_refused_and_never_reaches_a_span(
    proxy: InProcessProxy, header: str, value: bytes, reason: str
) -> None:
    marker = "m" + uuid.uuid4().hex[:12]  # makes the refused value findable, and keeps it refused
    upstream_before = proxy.upstream.total_requests
    response = send(proxy, {**claude_code_headers(proxy, None), header: marker.encode() + value})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith(f"invalid session header: header {header}: ") and reason in message
    assert marker not in message  # the reason never echoes the value
    assert proxy.upstream.total_requests == upstream_before  # never forwarded

    # A good request after it: once its spans are out, the refused one had none.
    after = new_session("after-bad-header")
    assert send(proxy, claude_code_headers(proxy, after)).status_code == 200
    request_spans(proxy, "session.id", after.id)
    assert not [span.name for span in proxy.spans() if marker in span.to_json()]


def test_a_bad_session_value_in_the_body_metadata_is_dropped(proxy: InProcessProxy) -> None:
    """Body metadata is client data too: merged into the session (patch 0001), checked on the span."""
    session = new_session("body-metadata")
    bad_type = "not a slug " + uuid.uuid4().hex
    metadata = {"session_type": bad_type, "session_name": "from the body"}
    headers = {**claude_code_headers(proxy, None), "x-session-tracking-id": session.id}
    assert send(proxy, headers, metadata=metadata).status_code == 200
    root, child = request_spans(proxy, "session.id", session.id)
    for span in (root, child):
        assert "session.type" not in attributes(span)
        assert attributes(span)["session.name"] == "from the body"
        assert bad_type not in json.dumps(session_of(span))


def test_a_missing_or_wrong_proxy_key_gets_401_and_no_span(proxy: InProcessProxy) -> None:
    session = new_session("no-key")
    headers = claude_code_headers(proxy, session)
    del headers[fields.PROXY_KEY_HEADER]
    missing = send(proxy, headers)
    wrong = send(proxy, {**headers, fields.PROXY_KEY_HEADER: "sk-not-the-master-key"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert fields.PROXY_KEY_HEADER in missing.json()["error"]["message"]
    assert "Invalid proxy key" in wrong.json()["error"]["message"]
    after = new_session("after-no-key")
    assert send(proxy, claude_code_headers(proxy, after)).status_code == 200
    request_spans(proxy, "session.id", after.id)
    assert not [span for span in proxy.spans() if attributes(span).get("session.id") == session.id]


def test_a_failed_request_is_tagged_and_marked_failed_on_both_spans(proxy: InProcessProxy) -> None:
    session = new_session("upstream-error", "refused upstream")
    response = send(proxy, claude_code_headers(proxy, session), prompt="hi [[fault:400]]")
    assert response.status_code == 400
    root, child = request_spans(proxy, "session.id", session.id)
    for span in (root, child):
        assert span.status.status_code == StatusCode.ERROR
        assert attributes(span)["session.type"] == "upstream-error"
        assert attributes(span)["session.name"] == "refused upstream"


def test_a_failed_pass_through_request_is_on_a_span(proxy: InProcessProxy) -> None:
    session = new_session("pass-through-error")
    headers = claude_code_headers(proxy, session)
    response = send(proxy, headers, prompt="hi [[fault:400]]", path="/anthropic/v1/messages")
    assert response.status_code == 400
    # A good request after it: once its spans are out, the failed one's would be too.
    after = new_session("after-pass-through-error")
    assert send(proxy, claude_code_headers(proxy, after), path="/anthropic/v1/messages").status_code == 200
    request_spans(proxy, "session.id", after.id)
    failed = [span for span in proxy.spans() if attributes(span).get("session.id") == session.id]
    assert failed and all(span.status.status_code == StatusCode.ERROR for span in failed)


def test_concurrent_sessions_do_not_mix(proxy: InProcessProxy) -> None:
    sessions = [new_session("mix-a", "one"), new_session("mix-b", "two")]
    statuses: list[int] = []

    def client(session: launcher.Session, stream: bool) -> None:
        for _ in range(6):
            statuses.append(send(proxy, claude_code_headers(proxy, session), stream=stream).status_code)

    threads = [threading.Thread(target=client, args=(s, i == 1)) for i, s in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    for session in sessions:
        spans = proxy.wait_for_spans(with_attribute("session.id", session.id), 12)
        assert len(spans) == 12
        for span in spans:
            assert attributes(span)["session.type"] == session.type
            assert attributes(span)["session.name"] == session.name
