"""The overlay's logic in isolation: merge order, proxy-wide defaults, redaction, span attributes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from litellm.integrations.arize import session_attributes
from litellm.litellm_core_utils import session_metadata


class RecordingSpan:
    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def is_recording(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def no_proxy_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "PHOENIX_SESSION_ID",
        "PHOENIX_SESSION_TYPE",
        "PHOENIX_PROMPT_VERSION",
        "PHOENIX_SESSION_NAME",
    ):
        monkeypatch.delenv(var, raising=False)
    session_metadata.proxy_defaults.cache_clear()


def test_merge_keeps_body_metadata_and_lets_the_request_session_win() -> None:
    merged = session_metadata.merge_requester_metadata(
        {"session_type": "from-header"}, {"user_id": "u-1", "session_type": "from-body"}
    )
    assert merged == {"user_id": "u-1", "session_type": "from-header"}


def test_proxy_defaults_fill_only_missing_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOENIX_PROMPT_VERSION", "v9")
    monkeypatch.setenv("PHOENIX_SESSION_NAME", "nightly")
    merged = session_metadata.merge_requester_metadata({"session_name": "mine"}, None)
    assert merged is not None
    assert merged["session_name"] == "mine"
    assert merged["prompt_version"] == "v9"
    assert merged["session_type"] == "general"
    assert merged["session_id"].startswith("general-")


def test_bad_proxy_defaults_are_ignored_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOENIX_SESSION_TYPE", "bad type")
    assert session_metadata.merge_requester_metadata(None, None) is None


def test_redaction_covers_credential_headers_and_credential_values() -> None:
    redacted = session_metadata.redact_headers(
        {
            "x-api-key": "sk-ant-api03-secret",
            "x-litellm-api-key": "sk-master",
            "authorization": "Bearer tok",
            "x-vendor-token": "abc",
            "x-innocent": "Bearer sneaky-token",
            "x-session-tracking-type": "code-review",
        }
    )
    assert redacted is not None
    assert redacted["x-session-tracking-type"] == "code-review"
    assert {k for k, v in redacted.items() if v == session_metadata.REDACTED} == {
        "x-api-key",
        "x-litellm-api-key",
        "authorization",
        "x-vendor-token",
        "x-innocent",
    }


def test_span_gets_the_request_session_and_conversation_id() -> None:
    span = RecordingSpan()
    session_attributes.set_session_attributes(
        span,  # type: ignore[arg-type]
        {
            "requester_metadata": {
                "session_id": "code-review-20251101-143022-a3f2b1",
                "session_type": "code-review",
                "prompt_version": "v2",
                "session_name": "auth",
                "claude_code_session_id": "0b0c5f0e-1111",
            }
        },
    )
    assert span.attributes == {
        "session.id": "code-review-20251101-143022-a3f2b1",
        "session.type": "code-review",
        "session.prompt_version": "v2",
        "session.name": "auth",
        "claude_code.session_id": "0b0c5f0e-1111",
    }


def test_invalid_body_values_never_reach_the_span() -> None:
    span = RecordingSpan()
    session_attributes.set_session_attributes(
        span,  # type: ignore[arg-type]
        {"requester_metadata": {"session_type": "evil\nvalue", "session_name": 42}},
    )
    assert "session.type" not in span.attributes
    assert "session.name" not in span.attributes


def test_session_id_falls_back_to_the_conversation_never_the_user_id_json() -> None:
    user_id = json.dumps({"device_id": "d", "session_id": "conv-123"})
    span = RecordingSpan()
    session_attributes.set_session_attributes(
        span,  # type: ignore[arg-type]
        {"requester_metadata": {"user_id": user_id}, "user_api_key_end_user_id": user_id},
    )
    assert span.attributes == {"session.id": "conv-123", "claude_code.session_id": "conv-123"}

    plain = RecordingSpan()
    session_attributes.set_session_attributes(plain, {"user_api_key_end_user_id": "{not json"})  # type: ignore[arg-type]
    assert plain.attributes == {}
