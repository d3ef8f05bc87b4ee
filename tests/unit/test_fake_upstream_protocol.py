"""Pure tests of the fake upstream's protocol: directives, usage numbers, replies, SSE events.

No server and no event loop: these call claude_session.testing.fake_upstream's functions directly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_session.testing.fake_upstream import (
    ERROR_FAULTS,
    DirectiveError,
    Directives,
    build_message,
    compute_usage,
    contains_key,
    count_text_chars,
    error_body,
    format_sse,
    parse_directives,
    plan_reply,
    reply_text,
    requested_fault,
    stream_events,
)

MODEL = "claude-sonnet-4-5-20250929"
USAGE_KEYS = {"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}


def _body(*messages: dict[str, Any], stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1024, "stream": stream, "messages": list(messages), **extra}


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def _events(body: dict[str, Any], reply_words: int = 24, chunk_words: int = 4) -> list[tuple[str, Any]]:
    return list(stream_events(build_message(plan_reply(body, reply_words), MODEL), chunk_words))


# --------------------------------------------------------------------------- request text


def test_count_text_chars_covers_system_messages_and_tool_results() -> None:
    """system blocks, role=system messages, mixed block types: only text (and tool results) counts."""
    body = _body(
        {"role": "system", "content": "a" * 10},
        _user(
            [
                {"type": "text", "text": "b" * 20},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "Zm9v" * 50},
                },
            ]
        ),
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm " * 100, "signature": "sig"},
                {"type": "text", "text": "c" * 30},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/x" * 100}},
            ],
        },
        _user(
            [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "d" * 40},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "e" * 50}],
                },
                {"type": "text", "text": "f" * 60},
            ]
        ),
        system=[{"type": "text", "text": "g" * 70}, {"type": "text", "text": "h" * 80}],
    )
    assert count_text_chars(body) == 10 + 20 + 30 + 40 + 50 + 60 + 70 + 80
    assert compute_usage(body, 24)["input_tokens"] == 360 // 4


def test_contains_key_walks_nested_lists_and_dicts() -> None:
    assert contains_key({"a": [{"b": [{"cache_control": {}}]}]}, "cache_control")
    assert not contains_key({"a": ["cache_control", {"b": "cache_control"}]}, "cache_control")
    deep: Any = {"cache_control": 1}
    for _ in range(5000):  # deeper than the recursion limit
        deep = [deep]
    assert contains_key(deep, "cache_control")


# --------------------------------------------------------------------------- directives


def test_directives_in_every_text_block_later_ones_win() -> None:
    prompt = [
        {"type": "text", "text": "<system-reminder>[[usage in=1 out=2]]</system-reminder>"},
        {"type": "text", "text": "hello [[usage out=30 cache_read=40]] [[fault: 500 ]] [[fault:DROP]]"},
    ]
    directives = parse_directives(_body(_user(prompt)))
    assert directives == Directives(usage={"in": 1, "out": 30, "cache_read": 40}, tool=None, fault="drop")


def test_directive_only_counts_in_last_user_message() -> None:
    earlier = _user("[[usage out=7]] [[fault:500]]")
    body = _body(earlier, {"role": "assistant", "content": "ok"}, _user("plain"))
    assert parse_directives(body).fault is None
    assert compute_usage(body, 5)["output_tokens"] == 5


def test_tool_directive_json_may_contain_closing_brackets() -> None:
    directives = parse_directives(_body(_user('go [[tool:Bash {"command": "echo ]]", "n": [1]} ]] now')))
    assert directives.tool == ("Bash", {"command": "echo ]]", "n": [1]})
    assert parse_directives(_body(_user("go [[tool:mcp__x.y:z-1]]"))).tool == ("mcp__x.y:z-1", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[usage out=many]]", "usage directive"),
        ("[[usage tokens=3]]", "usage directive"),
        ("[[usage out]]", "usage directive"),
        ("[[tool:Bash {not json}]]", "bad JSON in tool directive"),
        ("[[tool:Bash [1, 2]]]", "tool directive must look like"),
        ('[[tool:Bash {"a": 1} trailing]]', "tool directive must look like"),
    ],
)
def test_malformed_directives_raise(text: str, message: str) -> None:
    with pytest.raises(DirectiveError, match=message):
        parse_directives(_body(_user(text)))
    with pytest.raises(DirectiveError):
        compute_usage(_body(_user(text)), 24)


def test_requested_fault_header_wins_and_is_normalised() -> None:
    marker = Directives(fault="500")
    assert requested_fault(None, marker) == "500"
    assert requested_fault(" Drop ", marker) == "drop"
    assert requested_fault("", Directives()) is None
    assert requested_fault("  ", Directives()) is None
    assert set(ERROR_FAULTS) == {"400", "401", "403", "404", "413", "429", "500", "529"}


# --------------------------------------------------------------------------- usage rules


def test_default_usage_and_reply() -> None:
    body = _body(_user("Say hello to the offline world."))
    assert compute_usage(body, 24) == {
        "input_tokens": len("Say hello to the offline world.") // 4,
        "output_tokens": 24,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    assert compute_usage(_body(_user("x" * 400)), 24)["input_tokens"] == 100
    assert compute_usage(_body(_user("y" * 81), system="s" * 19), 24)["input_tokens"] == 25
    assert len(reply_text(24).split()) == 24 and reply_text(3) == "Hello from the"
    assert reply_text(0) == ""


def test_usage_directive_overrides_and_sets_reply_length() -> None:
    prompt = [
        {"type": "text", "text": "<system-reminder>ignore</system-reminder>"},
        {"type": "text", "text": "hello [[usage in=120 out=30 cache_read=40 cache_write=8]]"},
    ]
    plan = plan_reply(_body(_user(prompt)), 24)
    assert plan.usage == {
        "input_tokens": 120,
        "output_tokens": 30,
        "cache_creation_input_tokens": 8,
        "cache_read_input_tokens": 40,
    }
    assert len(plan.text.split()) == 30


def test_usage_directive_subset() -> None:
    text = "k" * 40 + " [[usage out=3]]"
    plan = plan_reply(_body(_user(text)), 24)
    assert plan.text == "Hello from the"
    assert plan.usage["output_tokens"] == 3
    assert plan.usage["input_tokens"] == len(text) // 4


def test_cache_control_detection() -> None:
    system = [{"type": "text", "text": "q" * 400, "cache_control": {"type": "ephemeral"}}]
    assert compute_usage(_body(_user("r" * 400), system=system), 24) == {
        "input_tokens": 200,
        "output_tokens": 24,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 150,
    }
    plain = compute_usage(_body(_user("r" * 400), system="q" * 400), 24)
    assert plain["cache_read_input_tokens"] == plain["cache_creation_input_tokens"] == 0
    # Cache numbers follow an overridden input count.
    overridden = _body(_user([{"type": "text", "text": "[[usage in=1000]]", "cache_control": {}}]))
    assert compute_usage(overridden, 24)["cache_read_input_tokens"] == 750


def test_empty_request_still_has_one_input_token() -> None:
    assert compute_usage({"model": MODEL, "messages": []}, 0) == {
        "input_tokens": 1,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "text", "content", "role", "cache_control", "x"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(messages=st.lists(_json, max_size=5), system=_json, reply_words=st.integers(0, 50))
def test_compute_usage_never_crashes_on_odd_json(messages: list[Any], system: Any, reply_words: int) -> None:
    body = {"model": MODEL, "messages": messages, "system": system}
    try:
        usage = compute_usage(body, reply_words)
    except DirectiveError:
        return
    assert set(usage) == USAGE_KEYS
    assert usage["input_tokens"] >= 1 and min(usage.values()) >= 0


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="abc xyz\n", max_size=200), max_size=6), reply_words=st.integers(0, 40)
)
def test_compute_usage_counts_characters(texts: list[str], reply_words: int) -> None:
    body = _body(*(_user(text) for text in texts))
    assert compute_usage(body, reply_words) == {
        "input_tokens": max(1, sum(map(len, texts)) // 4),
        "output_tokens": reply_words,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


# --------------------------------------------------------------------------- replies


def test_build_message_text_reply() -> None:
    plan = plan_reply(_body(_user("x" * 400)), 24)
    message = build_message(plan, MODEL)
    assert message["id"].startswith("msg_fake_")
    assert {k: message[k] for k in ("type", "role", "model", "stop_reason", "stop_sequence")} == {
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    assert message["content"] == [{"type": "text", "text": reply_text(24)}]
    assert message["usage"] == plan.usage and message["usage"] is not plan.usage
    assert build_message(plan, MODEL)["id"] != message["id"]


def test_tool_directive_plans_a_tool_use_reply() -> None:
    plan = plan_reply(_body(_user('List the docs [[tool:Glob {"pattern":"*.md"}]]')), 24)
    assert (plan.kind, plan.text, plan.stop_reason) == ("tool_use", "Let me check.", "tool_use")
    assert (plan.tool_name, plan.tool_input) == ("Glob", {"pattern": "*.md"})
    assert plan.usage["output_tokens"] == 1 + len("Let me check.".split()) + 10
    content = build_message(plan, MODEL)["content"]
    assert content[0] == {"type": "text", "text": "Let me check."}
    assert content[1]["type"] == "tool_use" and content[1]["id"].startswith("toolu_fake_")
    assert (content[1]["name"], content[1]["input"]) == ("Glob", {"pattern": "*.md"})


def test_tool_result_is_acknowledged_never_looped() -> None:
    prompt = "again [[tool:Glob]]"
    body = _body(
        _user(prompt),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Glob", "input": {}}]},
        _user(
            [
                {"type": "tool_result", "tool_use_id": "t1", "content": "README.md"},
                {"type": "text", "text": prompt},
            ]
        ),
    )
    plan = plan_reply(body, 24)
    assert (plan.kind, plan.text, plan.stop_reason) == ("tool_ack", "Tool result received: done.", "end_turn")
    assert plan.usage["output_tokens"] == 4


def test_error_body_envelope() -> None:
    assert error_body("rate_limit_error", "slow down") == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }


# --------------------------------------------------------------------------- SSE


def test_stream_events_for_a_text_reply() -> None:
    body = _body(_user("Say hello to the offline world."), stream=True)
    events = _events(body)
    expected = compute_usage(body, 24)
    # 24 default words in chunks of 4 -> 6 text deltas.
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 6,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    message = events[0][1]["message"]
    assert message["id"].startswith("msg_fake_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", MODEL)
    assert message["content"] == [] and message["stop_reason"] is None and message["stop_sequence"] is None
    assert message["usage"] == {**expected, "output_tokens": 1}
    assert events[2][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert all(delta["type"] == "text_delta" and len(delta["text"].split()) == 4 for delta in deltas)
    assert "".join(delta["text"] for delta in deltas) == reply_text(24)
    assert events[-3][1] == {"type": "content_block_stop", "index": 0}
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": expected,
    }
    assert events[-1][1] == {"type": "message_stop"}


def test_stream_events_chunk_size_and_uneven_tail() -> None:
    deltas = [
        data["delta"]["text"]
        for name, data in _events(_body(_user("hi")), 5, 2)
        if name == "content_block_delta"
    ]
    assert deltas == ["Hello from", " the offline", " fake"]


def test_stream_events_for_a_tool_use_reply() -> None:
    tool_input = {"pattern": "docs/**/*.md", "path": "/some/long/directory/name"}
    events = _events(_body(_user(f"List [[tool:Glob {json.dumps(tool_input)}]]")))
    starts = [data for name, data in events if name == "content_block_start"]
    assert [(start["index"], start["content_block"]["type"]) for start in starts] == [
        (0, "text"),
        (1, "tool_use"),
    ]
    tool_block = starts[1]["content_block"]
    assert tool_block["id"].startswith("toolu_fake_") and tool_block["name"] == "Glob"
    assert tool_block["input"] == {}
    pieces = [
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["index"] == 1
    ]
    assert len(pieces) > 1 and all(len(piece) <= 16 for piece in pieces)
    assert json.loads("".join(pieces)) == tool_input
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_format_sse_frame() -> None:
    frame = format_sse("ping", {"type": "ping", "text": "a b"})
    assert frame == 'event: ping\ndata: {"type":"ping","text":"a b"}\n\n'
