"""session.* attributes on real OpenTelemetry spans (SDK tracer, in-memory exporter)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from claude_session.proxy.settings import ProxySettings
from claude_session.proxy.span_attributes import set_session_attributes

REQUEST_SESSION = {
    "session_id": "code-review-20251101-143022-a3f2b1",
    "session_type": "code-review",
    "prompt_version": "v2",
    "session_name": "auth",
    "claude_code_session_id": "0b0c5f0e-1111",
}
Export = Callable[[Mapping[str, object], Mapping[str, str]], dict[str, Any]]

PROXY_WIDE = {
    "session_id": "nightly-20251101-000000-abcdef",
    "session_type": "nightly",
    "prompt_version": "v9",
    "session_name": "proxy wide",
}


@pytest.fixture
def exported(provider: TracerProvider, exporter: InMemorySpanExporter) -> Export:
    """Run set_session_attributes on a real span; return the exported span's attributes."""
    exporter.clear()
    tracer = provider.get_tracer("tests.proxy_span_attributes")

    def run(metadata: Mapping[str, object], defaults: Mapping[str, str]) -> dict[str, Any]:
        with tracer.start_as_current_span("litellm_request") as span:
            set_session_attributes(span, metadata, defaults=defaults)
        (finished,) = exporter.get_finished_spans()
        exporter.clear()
        return dict(finished.attributes or {})

    return run


def test_span_gets_the_request_session_and_conversation_id(exported: Export) -> None:
    assert exported({"requester_metadata": REQUEST_SESSION}, {}) == {
        "session.id": "code-review-20251101-143022-a3f2b1",
        "session.type": "code-review",
        "session.prompt_version": "v2",
        "session.name": "auth",
        "claude_code.session_id": "0b0c5f0e-1111",
    }


def test_the_request_session_wins_over_the_proxy_defaults(exported: Export) -> None:
    attributes = exported({"requester_metadata": REQUEST_SESSION}, PROXY_WIDE)
    assert attributes["session.id"] == REQUEST_SESSION["session_id"]
    assert attributes["session.type"] == "code-review"
    assert attributes["session.prompt_version"] == "v2"
    assert attributes["session.name"] == "auth"


def test_proxy_defaults_fill_the_missing_fields(exported: Export) -> None:
    attributes = exported({"requester_metadata": {"session_name": "mine"}}, PROXY_WIDE)
    assert attributes == {
        "session.id": PROXY_WIDE["session_id"],
        "session.type": "nightly",
        "session.prompt_version": "v9",
        "session.name": "mine",
    }


def test_defaults_read_from_the_proxy_settings(exported: Export) -> None:
    defaults = ProxySettings.from_environ({"PHOENIX_SESSION_TYPE": "batch"}).session_defaults
    attributes = exported({}, defaults)
    assert attributes["session.type"] == "batch"
    assert attributes["session.id"] == defaults["session_id"]
    assert attributes["session.id"].startswith("batch-")


def test_invalid_body_values_never_reach_the_span(exported: Export) -> None:
    metadata = {
        "requester_metadata": {
            "session_id": "x" * 500,
            "session_type": "evil\nvalue",
            "session_name": 42,
            "prompt_version": "bad version!",
            "claude_code_session_id": "not a conversation id",
        }
    }
    assert exported(metadata, {}) == {}
    # An invalid value falls back to the proxy default instead.
    attributes = exported(metadata, PROXY_WIDE)
    assert attributes == {
        "session.id": PROXY_WIDE["session_id"],
        "session.type": "nightly",
        "session.prompt_version": "v9",
        "session.name": "proxy wide",
    }


def test_requester_metadata_that_is_not_a_mapping_is_ignored(exported: Export) -> None:
    assert exported({"requester_metadata": "session_id=x"}, {}) == {}


def test_session_id_falls_back_to_the_conversation_never_the_user_id_json(exported: Export) -> None:
    user_id = json.dumps({"device_id": "d", "account_uuid": "a", "session_id": "conv-123"})
    attributes = exported(
        {"requester_metadata": {"user_id": user_id}, "user_api_key_end_user_id": user_id}, {}
    )
    assert attributes == {"session.id": "conv-123", "claude_code.session_id": "conv-123"}
    assert user_id not in attributes.values()

    # Only the end-user id carries it (the body metadata was dropped).
    attributes = exported({"user_api_key_end_user_id": user_id}, {})
    assert attributes == {"session.id": "conv-123", "claude_code.session_id": "conv-123"}


def test_the_user_id_json_without_a_conversation_is_never_a_session_id(exported: Export) -> None:
    assert exported({"user_api_key_end_user_id": "{not json"}, {}) == {}
    no_conversation = json.dumps({"device_id": "d"})
    assert exported({"user_api_key_end_user_id": no_conversation}, {}) == {}


def test_a_plain_end_user_id_is_the_last_resort_session_id(exported: Export) -> None:
    assert exported({"user_api_key_end_user_id": "alice"}, {}) == {"session.id": "alice"}
    assert exported({"user_api_key_end_user_id": "alice"}, {"session_id": "proxy-wide"}) == {
        "session.id": "proxy-wide"
    }


def test_claude_code_session_id_is_set_next_to_a_tracked_session(exported: Export) -> None:
    metadata = {"requester_metadata": {"session_type": "code-review", "claude_code_session_id": "conv-9"}}
    attributes = exported(metadata, {"session_id": "proxy-wide"})
    assert attributes == {
        "session.id": "proxy-wide",
        "session.type": "code-review",
        "claude_code.session_id": "conv-9",
    }
    # With no tracked id at all, the conversation becomes the session.
    assert exported(metadata, {}) == {
        "session.id": "conv-9",
        "session.type": "code-review",
        "claude_code.session_id": "conv-9",
    }
