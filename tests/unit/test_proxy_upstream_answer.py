"""upstream_answer (patch 0016's logic): which headers pass, and the upstream's error rebuilt
unchanged from the provider exception patch 0015 keeps on LiteLLM's mapped exception."""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.responses import Response, StreamingResponse

from claude_session.proxy import upstream_answer

UPSTREAM_HEADERS = {
    "request-id": "req_1",
    "retry-after": "7",
    "x-should-retry": "true",
    "anthropic-ratelimit-requests-remaining": "0",
    "content-type": "application/json",
    "server": "envoy",
    "set-cookie": "a=b",
}
PROTOCOL = {k: v for k, v in UPSTREAM_HEADERS.items() if k not in ("content-type", "server", "set-cookie")}
BODY = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'


class ProviderError(Exception):
    def __init__(self, status_code: Any, message: Any, headers: Any) -> None:
        super().__init__(message)
        self.status_code, self.message, self.headers = status_code, message, headers


class Mapped(Exception):
    """Stands for LiteLLM's mapped exception (InternalServerError, 500) after patch 0015."""

    def __init__(self, provider: object) -> None:
        super().__init__("litellm.InternalServerError: AnthropicError - ...")
        self.provider_exception = provider


def test_only_the_protocol_headers_pass_from_any_mapping() -> None:
    assert upstream_answer.protocol_headers(UPSTREAM_HEADERS) == PROTOCOL
    assert upstream_answer.protocol_headers(httpx.Headers({"Request-Id": "r", "Server": "x"})) == {
        "request-id": "r"
    }
    prefixed = {"llm_provider-request-id": "old", "request-id": "new", "llm_provider-retry-after": "3"}
    assert upstream_answer.protocol_headers(prefixed) == {"request-id": "new", "retry-after": "3"}
    assert upstream_answer.protocol_headers(None) == {}


def test_an_upstream_error_comes_back_unchanged() -> None:
    response = upstream_answer.error_response(
        Mapped(ProviderError(529, BODY, httpx.Headers(UPSTREAM_HEADERS)))
    )
    assert response is not None
    assert response.status_code == 529
    assert response.body == BODY.encode()
    sent = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
    assert sent == PROTOCOL
    assert response.headers["content-type"] == "application/json"


def test_anything_but_an_anthropic_error_answer_is_left_to_litellm() -> None:
    for provider in (
        None,  # no provider answer: a timeout, a dropped connection, LiteLLM's own error
        ProviderError(200, BODY, {}),
        ProviderError("529", BODY, {}),
        ProviderError(True, BODY, {}),
        ProviderError(502, "<html>bad gateway</html>", {}),
        ProviderError(500, json.dumps({"error": {"message": "openai-shaped"}}), {}),
        ProviderError(500, None, {}),
    ):
        assert upstream_answer.error_response(Mapped(provider)) is None
    assert upstream_answer.error_response(ValueError("plain")) is None


class Logging:
    def __init__(self, headers: object) -> None:
        self.model_call_details = {"response_headers": headers}


def test_a_success_gets_the_upstream_headers_it_lacks() -> None:
    endpoint_response = Response()
    upstream_answer.copy_success_headers(
        {"litellm_logging_obj": Logging(UPSTREAM_HEADERS)}, {"type": "message"}, endpoint_response
    )
    assert {k: endpoint_response.headers[k] for k in PROTOCOL} == PROTOCOL

    async def nothing() -> Any:
        yield b""

    streamed = StreamingResponse(nothing(), headers={"request-id": "already"})
    upstream_answer.copy_success_headers(
        {"litellm_logging_obj": Logging(UPSTREAM_HEADERS)}, streamed, Response()
    )
    assert streamed.headers["request-id"] == "already"
    assert streamed.headers["anthropic-ratelimit-requests-remaining"] == "0"
    upstream_answer.copy_success_headers({}, streamed, Response())  # no logging object: nothing to copy
