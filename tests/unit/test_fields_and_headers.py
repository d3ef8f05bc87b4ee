"""Session ids, validation and ANTHROPIC_CUSTOM_HEADERS merging: what the launcher sends."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_session.core import fields
from claude_session.core.errors import ClaudeSessionError
from claude_session.session import custom_headers as headers
from claude_session.session.launcher import Session

ID_FORMAT = re.compile(r"^code-review-\d{8}-\d{6}-[0-9a-f]{6}$")


def test_session_id_format() -> None:
    session_id = fields.new_session_id("code-review", datetime(2025, 11, 1, 14, 30, 22, tzinfo=UTC))
    assert ID_FORMAT.match(session_id)
    assert session_id.startswith("code-review-20251101-143022-")


def test_session_ids_started_in_the_same_second_differ_by_24_random_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guide's id ends in 6 hex digits: 24 bits from `secrets`, so two sessions of one type
    started in the same second clash once in 16 million. (Asking 2,000 such ids to be all
    distinct failed about one run in eight: the birthday bound, 2000**2 / 2**25 = 0.12 clashes.)"""
    now = datetime(2025, 11, 1, 14, 30, 22, tzinfo=UTC)
    drawn: list[int] = []
    real = fields.secrets.token_hex

    def spy(nbytes: int) -> str:
        drawn.append(nbytes)
        return real(nbytes)

    monkeypatch.setattr(fields.secrets, "token_hex", spy)
    ids = [fields.new_session_id("code-review", now) for _ in range(2000)]
    assert drawn == [3] * 2000
    assert all(re.fullmatch(r"code-review-20251101-143022-[0-9a-f]{6}", i) for i in ids)
    # Clashes among 2,000: expected 0.12 (Poisson); 4 or more has odds of about 1 in 100,000.
    assert len(ids) - len(set(ids)) <= 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (fields.SESSION_TYPE, "code review"),
        (fields.SESSION_TYPE, "a:b"),
        (fields.SESSION_TYPE, "x\ny"),
        (fields.SESSION_TYPE, ""),
        (fields.SESSION_TYPE, "-leading-dash"),
        (fields.PROMPT_VERSION, "v" * 33),
        (fields.SESSION_NAME, " padded"),
        (fields.SESSION_NAME, "n" * 101),
        (fields.SESSION_NAME, "two\nlines"),
        (fields.SESSION_NAME, "bell\x07"),
        (fields.SESSION_NAME, "漢" * 101),
        (fields.SESSION_ID, "id with space"),
    ],
)
def test_validation_refuses(field: fields.SessionField, value: str) -> None:
    with pytest.raises(fields.InvalidSessionValue) as err:
        fields.validate(field, value)
    assert field.option in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (fields.SESSION_TYPE, "code-review"),
        (fields.PROMPT_VERSION, "v2.1"),
        (fields.SESSION_NAME, "async refactor/api+docs"),
        (fields.SESSION_NAME, "évolution"),
        (fields.SESSION_ID, "build-12345"),
    ],
)
def test_validation_accepts(field: fields.SessionField, value: str) -> None:
    assert fields.validate(field, value) == value


HEADER_BREAKERS = st.text(min_size=1, max_size=40).filter(
    lambda s: any(c in s for c in "\r\n:\x00") or not s.isascii()
)
SLUG_FIELDS = [f for f in fields.FIELDS if not f.free_text]


@given(value=HEADER_BREAKERS, which=st.sampled_from(SLUG_FIELDS))
def test_no_header_breaking_value_reaches_a_header(value: str, which: fields.SessionField) -> None:
    """Newlines, colons, NUL and non-ASCII never make it into ANTHROPIC_CUSTOM_HEADERS."""
    session = {f.key: "ok" for f in fields.FIELDS}
    session[which.key] = value
    with pytest.raises(fields.InvalidSessionValue):
        headers.merge(None, session, "sk-key")


@given(value=st.text(max_size=120))
def test_accepted_values_always_make_one_header_line(value: str) -> None:
    """A name (any language) travels as one line of printable ASCII and reads back exactly."""
    try:
        fields.validate(fields.SESSION_NAME, value)
    except fields.InvalidSessionValue:
        return
    merged = headers.merge(None, {"session_name": value}, None)
    assert merged.count("\n") == 0
    ((name, sent),) = headers.parse(merged)
    assert name == fields.SESSION_NAME.header
    assert all(" " <= c <= "~" for c in sent) and ":" not in sent
    assert fields.from_headers([(name, sent)]) == {"session_name": value}


@given(
    session_type=st.text(max_size=70),
    version=st.text(max_size=40),
    name=st.one_of(st.none(), st.text(max_size=110)),
)
def test_session_new_exits_2_or_builds_valid_headers(
    session_type: str, version: str, name: str | None
) -> None:
    try:
        session = Session.new(session_type or None, version or None, name)
    except ClaudeSessionError as err:
        assert err.exit_code == 2
        assert "\n" not in str(err)
        return
    for line in headers.merge(None, session.as_metadata(), "sk-k").splitlines():
        name_part, _, value = line.partition(": ")
        assert name_part in headers.OURS
        assert "\r" not in value and "\x00" not in value


def test_merge_keeps_the_users_headers_and_replaces_stale_session_lines() -> None:
    existing = "X-Team: payments\nx-session-tracking-type: old\nX-LiteLLM-Api-Key: sk-stale\n\nX-Trace: 1"
    session = {
        "session_id": "debugging-20251101-143022-a3f2b1",
        "session_type": "debugging",
        "prompt_version": "v2",
    }
    merged = headers.parse(headers.merge(existing, session, "sk-new"))
    assert ("X-Team", "payments") in merged
    assert ("X-Trace", "1") in merged
    assert ("x-session-tracking-type", "debugging") in merged
    assert ("x-session-tracking-type", "old") not in merged
    assert ("x-litellm-api-key", "sk-new") in merged
    assert [n for n, _ in merged].count("x-litellm-api-key") + [n for n, _ in merged].count(
        "X-LiteLLM-Api-Key"
    ) == 1


def test_from_headers_reads_session_and_claude_code_id() -> None:
    found = fields.from_headers(
        [("x-session-tracking-type", "testing"), ("x-claude-code-session-id", "abc-123"), ("x-other", "1")]
    )
    assert found == {"session_type": "testing", "claude_code_session_id": "abc-123"}
    with pytest.raises(fields.InvalidSessionValue, match="header x-session-tracking-name"):
        fields.from_headers([("x-session-tracking-name", "bad\x00name")])


def test_from_env_validates_proxy_wide_defaults() -> None:
    assert fields.from_env({"PHOENIX_SESSION_TYPE": "ci-pipeline", "PHOENIX_SESSION_ID": ""}) == {
        "session_type": "ci-pipeline"
    }
    with pytest.raises(fields.InvalidSessionValue, match="PHOENIX_PROMPT_VERSION"):
        fields.from_env({"PHOENIX_PROMPT_VERSION": "v1\nX-Evil: 1"})
