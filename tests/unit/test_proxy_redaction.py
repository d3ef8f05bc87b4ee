"""No credential reaches a span or a log line: header redaction."""

from __future__ import annotations

import pytest

from claude_session.proxy.redaction import REDACTED, redact_headers


def test_redaction_covers_credential_headers_and_credential_values() -> None:
    redacted = redact_headers(
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
    assert {k for k, v in redacted.items() if v == REDACTED} == {
        "x-api-key",
        "x-litellm-api-key",
        "authorization",
        "x-vendor-token",
        "x-innocent",
    }


@pytest.mark.parametrize(
    "headers", [None, "authorization: Bearer tok", [("authorization", "Bearer tok")], 42]
)
def test_non_mapping_input_gives_none(headers: object) -> None:
    assert redact_headers(headers) is None


@pytest.mark.parametrize(
    "name", ["Authorization", "AUTHORIZATION", "X-Api-Key", "X-LiteLLM-API-Key", "Cookie"]
)
def test_header_names_match_whatever_their_case(name: str) -> None:
    assert redact_headers({name: "plain-looking-value"}) == {name: REDACTED}


@pytest.mark.parametrize("value", ["sk-ant-api03-abcdef", "sk-ant-", "  sk-ant-oat01-xyz", "SK-ANT-API03-X"])
def test_an_anthropic_key_is_redacted_under_an_innocent_header(value: str) -> None:
    assert redact_headers({"x-request-note": value, "user-agent": "claude-cli/2.0"}) == {
        "x-request-note": REDACTED,
        "user-agent": "claude-cli/2.0",
    }


def test_innocent_headers_and_non_string_values_are_kept() -> None:
    headers = {"content-type": "application/json", "x-count": 3, "x-skip": "sky-blue"}
    redacted = redact_headers(headers)
    assert redacted == headers
    assert redacted is not headers  # a copy: the caller's headers are left alone
