"""Phoenix filter expressions: string literals, timestamps, and the Spans / Traces tab conditions.

Phoenix parses a filter as a Python expression, so the expressions are checked with `ast` too.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_session.phoenix.filters import (
    LLM_SPAN,
    SESSION_KEYS,
    quote,
    root_condition,
    span_condition,
    timestamp,
)


def test_quote_plain_and_special_characters() -> None:
    assert quote("code-review") == "'code-review'"
    assert quote("auth module") == "'auth module'"
    assert quote("it's") == "'it\\'s'"
    assert quote("a\\b") == "'a\\\\b'"
    assert quote("two\nlines\r") == "'two\\nlines\\r'"
    assert quote("") == "''"
    assert quote('say "hi"') == "'say \"hi\"'"


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=30))
def test_quote_reads_back_as_the_same_string(value: str) -> None:
    literal = quote(value)
    assert "\n" not in literal and "\r" not in literal  # one line, as the UI's filter box takes it
    tree = ast.parse(literal, mode="eval")
    assert isinstance(tree.body, ast.Constant)
    assert tree.body.value == value


def test_timestamp_is_utc_with_z_and_microseconds_only_when_set() -> None:
    assert timestamp(datetime(2025, 11, 1, tzinfo=UTC)) == "2025-11-01T00:00:00Z"
    assert timestamp(datetime(2025, 11, 1, 14, 30, 22, 5, tzinfo=UTC)) == "2025-11-01T14:30:22.000005Z"
    minus_five = timezone(timedelta(hours=-5))
    assert timestamp(datetime(2025, 10, 31, 21, 0, tzinfo=minus_five)) == "2025-11-01T02:00:00Z"


def test_span_condition_without_values_selects_every_llm_span() -> None:
    assert LLM_SPAN == "litellm_request"
    assert span_condition({}) == "name == 'litellm_request'"


def test_span_condition_with_session_fields_in_order() -> None:
    assert span_condition({"type": "code-review", "prompt_version": "v2"}) == (
        "name == 'litellm_request' and session.type == 'code-review' and session.prompt_version == 'v2'"
    )
    assert span_condition({"name": "auth module", "session": "code-review-20251101-143022-a3f2b1"}) == (
        "name == 'litellm_request' and session.name == 'auth module'"
        " and session.id == 'code-review-20251101-143022-a3f2b1'"
    )


def test_span_condition_for_an_absent_attribute() -> None:
    assert span_condition({"type": "chat", "prompt_version": None}) == (
        "name == 'litellm_request' and session.type == 'chat' and session.prompt_version is None"
    )


def test_span_condition_with_a_time_window() -> None:
    start = datetime(2025, 11, 1, tzinfo=UTC)
    end = datetime(2025, 11, 8, 12, 0, 0, 250_000, tzinfo=UTC)
    assert span_condition({"type": "code-review"}, start, end) == (
        "name == 'litellm_request' and session.type == 'code-review'"
        " and start_time >= '2025-11-01T00:00:00Z' and start_time < '2025-11-08T12:00:00.250000Z'"
    )
    assert (
        span_condition({}, start=start)
        == "name == 'litellm_request' and start_time >= '2025-11-01T00:00:00Z'"
    )
    assert (
        span_condition({}, end=end)
        == "name == 'litellm_request' and start_time < '2025-11-08T12:00:00.250000Z'"
    )


def test_root_condition() -> None:
    assert root_condition({}) == ""
    assert root_condition({"type": "code-review"}) == "attributes['session']['type'] == 'code-review'"
    assert root_condition({"type": "code-review", "prompt_version": "v2", "name": "it's"}) == (
        "attributes['session']['type'] == 'code-review' and attributes['session']['prompt_version'] == 'v2'"
        " and attributes['session']['name'] == 'it\\'s'"
    )
    assert root_condition({"session": "abc", "name": None}) == (
        "attributes['session']['id'] == 'abc' and attributes['session']['name'] is None"
    )


def test_every_report_dimension_has_a_session_key() -> None:
    assert dict(SESSION_KEYS) == {
        "session": "id",
        "type": "type",
        "prompt_version": "prompt_version",
        "name": "name",
        "user": "user",
        "experiment": "experiment",
        "run": "run",
    }
    with pytest.raises(KeyError):
        span_condition({"colour": "red"})


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"type": "code-review"},
        {"prompt_version": None},
        {"name": 'it\'s a \\ "test"\n', "session": "x' or 1 == 1 or 'y"},
        {"type": "é ü 日本", "prompt_version": "v1", "name": None, "session": "\t\r"},
    ],
)
def test_conditions_parse_as_python_and_carry_every_value(values: dict[str, str | None]) -> None:
    for condition, clauses in (
        (span_condition(values), len(values) + 1),
        (root_condition(values), len(values)),
    ):
        if not condition:
            assert clauses == 0
            continue
        tree = ast.parse(condition, mode="eval")
        # One comparison per field joined by `and`: no value can inject an `or` or another clause.
        top = tree.body.values if isinstance(tree.body, ast.BoolOp) else [tree.body]
        assert len(top) == clauses and all(isinstance(node, ast.Compare) for node in top)
        assert not any(isinstance(node, ast.Or) for node in ast.walk(tree))
        constants = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]
        for value in values.values():
            assert value in constants  # None for `is None`, the string itself otherwise
