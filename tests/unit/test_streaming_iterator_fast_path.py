"""Patch 0014: a /v1/messages stream is passed through, not reassembled (the installed LiteLLM).

LiteLLM's default ResponsesIDSecurity callback overrides the streaming iterator hook for every
request but changes Responses API streams only. Before the patch its presence sent every Claude
Code stream down the guarded path, which joins and parses the whole SSE stream again at the
end to record what the client was served. In process: the proxy's own ProxyLogging object.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled price map: no fetch

litellm = pytest.importorskip("litellm")
proxy_server = pytest.importorskip("litellm.proxy.proxy_server")
proxy_utils = pytest.importorskip("litellm.proxy.utils")
id_security = pytest.importorskip("litellm.proxy.hooks.responses_id_security")
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402 - after importorskip
from litellm.proxy._types import UserAPIKeyAuth  # noqa: E402
from litellm.types.llms import openai as openai_types  # noqa: E402

pytestmark = pytest.mark.anyio

SSE_CHUNKS = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1"}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"hello"}}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def reassembled(monkeypatch: pytest.MonkeyPatch) -> list[list[object]]:
    """The served streams the proxy reassembled (the guarded path's last step), in order."""
    calls: list[list[object]] = []
    original = proxy_utils.ProxyLogging._record_served_stream_output

    async def recording(request_data: Any, served_chunks: Any) -> None:
        calls.append(list(served_chunks))
        await original(request_data, served_chunks)

    monkeypatch.setattr(proxy_utils.ProxyLogging, "_record_served_stream_output", staticmethod(recording))
    return calls


def _id_security() -> Any:
    return id_security.ResponsesIDSecurity(signing_key_reader=lambda: "test-signing-key")


def _use_callbacks(monkeypatch: pytest.MonkeyPatch, *callbacks: object) -> None:
    monkeypatch.setattr(litellm, "callbacks", list(callbacks))


async def _served(route: str, chunks: Iterable[object]) -> list[object]:
    async def upstream() -> AsyncIterator[object]:
        for chunk in chunks:
            yield chunk

    user = UserAPIKeyAuth(request_route=route, api_key="sk-test", user_id="user-1")
    hook = proxy_server.proxy_logging_obj.async_post_call_streaming_iterator_hook
    return [chunk async for chunk in hook(response=upstream(), user_api_key_dict=user, request_data={})]


def _responses_created_event(response_id: str) -> Any:
    response = openai_types.ResponsesAPIResponse(
        id=response_id, created_at=0, output=[], object="response", model="m", status="in_progress",
        parallel_tool_calls=False, tool_choice="auto", tools=[], top_p=None, temperature=None,
        error=None, incomplete_details=None, instructions=None, metadata=None,
        max_output_tokens=None, previous_response_id=None, reasoning=None, text=None,
        truncation=None, usage=None, user=None,
    )  # fmt: skip
    return openai_types.ResponseCreatedEvent(type="response.created", response=response)


async def test_messages_stream_is_passed_through_without_reassembly(
    monkeypatch: pytest.MonkeyPatch, reassembled: list[list[object]]
) -> None:
    _use_callbacks(monkeypatch, _id_security())
    assert await _served("/v1/messages", SSE_CHUNKS) == list(SSE_CHUNKS)
    assert reassembled == []


async def test_responses_stream_still_gets_its_ids_encrypted(
    monkeypatch: pytest.MonkeyPatch, reassembled: list[list[object]]
) -> None:
    monkeypatch.setenv("LITELLM_SALT_KEY", "sk-test-salt-key-0123456789")
    _use_callbacks(monkeypatch, _id_security())
    served = await _served("/v1/responses", [_responses_created_event("resp_upstream")])
    assert len(served) == 1
    served_id = served[0].response.id
    assert served_id.startswith("resp_") and served_id != "resp_upstream"
    assert len(reassembled) == 1


class _Uppercase(CustomLogger):
    """A callback that rewrites every streamed chunk: its hook applies to every request."""

    async def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncIterator[object]:
        async for chunk in response:
            yield chunk.upper() if isinstance(chunk, bytes) else chunk


async def test_a_rewriting_callback_still_rewrites_a_messages_stream(
    monkeypatch: pytest.MonkeyPatch, reassembled: list[list[object]]
) -> None:
    _use_callbacks(monkeypatch, id_security.ResponsesIDSecurity(), _Uppercase())
    served = await _served("/v1/messages", SSE_CHUNKS)
    assert served == [chunk.upper() for chunk in SSE_CHUNKS]
    assert reassembled == [served]
