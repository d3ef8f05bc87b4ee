"""Attribution inside sessions on synthetic span rows: cost per bucket (main loop, sub-agent types,
rest), turns (distinct prompt ids), cost per turn, the new group-by keys, and how they render."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace
from typing import Any

import pytest

from claude_session.cli.report import _group_key
from claude_session.phoenix.filters import root_condition, span_condition
from claude_session.report import attribution
from claude_session.report.fetch import Selection, aggregate
from claude_session.report.model import Report, totals
from claude_session.report.render import comparison_table, session_list, to_csv, to_json
from tests.unit.report_rows import row, ts


def hinted(
    session_id: str | None,
    cost: float,
    request_class: str | None = None,
    agent_type: str | None = None,
    prompt: str | None = None,
    model: str = "claude-a",
    **kwargs: Any,
) -> dict[str, Any]:
    """A row with the `claude_code` object Phoenix returns for the gateway hints (None: no hints)."""
    data = row(session_id, cost=cost, model=model, **kwargs)
    hints = {"request_class": request_class, "agent_type": agent_type, "prompt_id": prompt}
    hints = {k: v for k, v in hints.items() if v is not None}
    data["claude_code"] = hints or None
    return data


def rows() -> list[dict[str, Any]]:
    """Costs are binary fractions (exact in a float), so the expected sums are exact too.

    s1 (code-review v1): two turns p1, p2. p1: main 0.5, an Explore sub-agent 0.25 and a
        general-purpose one 0.125, a compaction 0.0625; p2: main 0.25. Total 1.1875.
    s2 (code-review v1): one turn p3: main 0.125, a sub-agent with no type 0.03125, and a
        request without any hint 0.015625. Total 0.171875.
    s3 (code-review v2): no hints at all (turns unknown): 0.5 and 0.25 on model claude-b.
    """
    return [
        hinted("s1", 0.5, "main", prompt="p1", start=ts(0)),
        hinted("s1", 0.25, "subagent", "Explore", prompt="p1", start=ts(1)),
        hinted("s1", 0.125, "subagent", "general-purpose", prompt="p1", start=ts(2)),
        hinted("s1", 0.0625, "compaction", prompt="p1", start=ts(3)),
        hinted("s1", 0.25, "main", prompt="p2", start=ts(4)),
        hinted("s2", 0.125, "main", prompt="p3", start=ts(10)),
        hinted("s2", 0.03125, "subagent", prompt="p3", start=ts(11)),
        hinted("s2", 0.015625, start=ts(12)),
        hinted("s3", 0.5, version="v2", model="claude-b", start=ts(20)),
        hinted("s3", 0.25, version="v2", model="claude-b", start=ts(21)),
    ]


def by_label(group_by: str) -> dict[str, Any]:
    return {g.label: g for g in aggregate([rows()], Selection(), group_by).groups}


def test_each_session_is_broken_down_and_the_buckets_sum_exactly_to_its_total() -> None:
    sessions = by_label("session")
    s1, s2, s3 = sessions["s1"], sessions["s2"], sessions["s3"]
    assert s1.cost_breakdown == {
        "main": 0.75,
        "subagent:Explore": 0.25,
        "subagent:general-purpose": 0.125,
        "rest": 0.0625,
    }
    assert list(s1.cost_breakdown) == ["main", "subagent:Explore", "subagent:general-purpose", "rest"]
    assert s1.cost_usd == 1.1875
    assert s2.cost_breakdown == {"main": 0.125, "subagent:(unknown)": 0.03125, "rest": 0.015625}
    assert s2.cost_usd == 0.171875
    assert s3.cost_breakdown == {"main": 0.0, "rest": 0.75}  # spans without hints are "rest"
    for group in (s1, s2, s3):
        assert sum(group.cost_breakdown.values()) == group.cost_usd
        assert (
            group.subagent_cost_usd
            == group.cost_usd - group.cost_breakdown["main"] - group.cost_breakdown["rest"]
        )


def test_turns_are_distinct_prompt_ids_and_sessions_without_them_are_unknown() -> None:
    sessions = by_label("session")
    assert (sessions["s1"].turns, sessions["s1"].turns_unknown_sessions) == (2, 0)
    assert sessions["s1"].cost_per_turn == 1.1875 / 2
    assert (sessions["s2"].turns, sessions["s2"].cost_per_turn) == (1, 0.171875)
    assert (sessions["s3"].turns, sessions["s3"].turns_unknown_sessions) == (0, 1)
    assert sessions["s3"].cost_per_turn is None
    assert sessions["s3"].turns_per_session is None


def test_a_group_sums_its_sessions_and_leaves_unknown_turns_out_of_the_per_turn_figures() -> None:
    groups = {g.label: g for g in aggregate([rows()], Selection(), "prompt_version").groups}
    v1, v2 = groups["v1"], groups["v2"]
    assert v1.cost_breakdown == {
        "main": 0.875,  # 0.5 + 0.25 + 0.125
        "subagent:(unknown)": 0.03125,
        "subagent:Explore": 0.25,
        "subagent:general-purpose": 0.125,
        "rest": 0.078125,  # 0.0625 + 0.015625
    }
    assert v1.cost_usd == 1.359375 == sum(v1.cost_breakdown.values())
    assert (v1.sessions, v1.turns, v1.turns_unknown_sessions) == (2, 3, 0)
    assert v1.turns_per_session == 1.5
    assert v1.cost_per_turn == 1.359375 / 3
    derived = v1.derived()
    assert derived["cost_main_usd"] == 0.875
    assert derived["cost_subagent_usd"] == 0.40625  # 0.03125 + 0.25 + 0.125
    assert derived["cost_rest_usd"] == 0.078125
    assert (v2.turns, v2.turns_unknown_sessions, v2.turn_cost_usd, v2.cost_per_turn) == (0, 1, 0.0, None)


def test_unknown_turns_count_apart_in_a_mixed_group() -> None:
    data = [{**r, "session": {"id": r["session"]["id"]}} for r in rows()]  # no type: one group
    (everything,) = aggregate([data], Selection(), "type").groups
    assert (everything.sessions, everything.turns, everything.turns_unknown_sessions) == (3, 3, 1)
    assert everything.turns_per_session == 1.5  # 3 turns over the 2 sessions that carry prompt ids
    assert everything.turn_cost_usd == 1.359375  # s3's 0.75 is left out
    assert everything.cost_per_turn == 1.359375 / 3
    assert everything.cost_usd == 2.109375


def test_group_by_request_class_agent_type_and_model() -> None:
    classes = by_label("request_class")
    assert {k: (g.requests, g.cost_usd) for k, g in classes.items()} == {
        "main": (3, 0.875),
        "subagent": (3, 0.40625),
        "compaction": (1, 0.0625),
        "(none)": (3, 0.765625),  # 0.015625 + 0.5 + 0.25
    }
    assert list(classes)[-1] == "(none)"  # spans without the attribute come last
    assert classes["main"].span_filter == (
        "name == 'litellm_request' and attributes['claude_code']['request_class'] == 'main'"
    )
    agents = by_label("agent_type")
    assert {k: g.cost_usd for k, g in agents.items()} == {
        "Explore": 0.25,
        "general-purpose": 0.125,
        "(none)": 2.109375 - 0.375,
    }
    models = by_label("model")
    assert {k: (g.requests, g.cost_usd) for k, g in models.items()} == {
        "claude-a": (8, 1.359375),
        "claude-b": (2, 0.75),
    }
    assert models["claude-b"].root_filter == ""  # the root span carries no model name (patch 0008)


def test_filters_for_the_new_dimensions() -> None:
    assert span_condition({"type": "t", "agent_type": None}) == (
        "name == 'litellm_request' and session.type == 't'"
        " and attributes['claude_code']['agent_type'] is None"
    )
    assert (
        root_condition({"request_class": "subagent"})
        == "attributes['claude_code']['request_class'] == 'subagent'"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("request-class", "request_class"),
        ("request_class", "request_class"),
        ("agent-type", "agent_type"),
        ("model", "model"),
    ],
)
def test_the_command_line_accepts_the_new_keys(text: str, key: str) -> None:
    assert _group_key(text) == key


def test_the_breakdown_adds_up_with_messy_floats_too() -> None:
    costs = [0.1, 0.2, 0.3, 1e-7, 0.000123456789, 3.3, 0.7]
    classes = ["main", "subagent", "auxiliary", None, "main", "subagent", "main"]
    data = [
        hinted("s", cost, cls, "general-purpose" if cls == "subagent" else None, prompt="p")
        for cost, cls in zip(costs, classes, strict=True)
    ]
    (group,) = aggregate([data], Selection(), "session").groups
    assert group.cost_usd == math.fsum(costs)
    assert attribution.adds_up(group.cost_breakdown, group.cost_usd)
    assert attribution.warnings([group]) == []


def test_a_breakdown_that_does_not_add_up_and_unknown_turns_are_warned_about() -> None:
    groups = aggregate([rows()], Selection(), "session").groups
    groups[0].cost_breakdown["main"] += 1.0
    lines = attribution.warnings(groups)
    assert len(lines) == 2
    assert "cost breakdown adds up to" in lines[0]
    assert lines[1].startswith("turns unknown for 1 session without prompt ids: no gateway hints")


def report(group_by: str) -> Report:
    result = aggregate([rows()], Selection(), group_by)
    built = Report("p", "http://x", group_by, {}, None, None, "", result.groups)
    built = replace(built, **totals(built.groups))
    return built


def test_the_table_shows_turns_and_the_breakdown_within_100_columns() -> None:
    lines = comparison_table(report("prompt_version"))
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    cells = {line[:22].rstrip(): line[22:].split() for line in lines}
    assert cells["turns (prompt ids)"] == ["3", "?"]
    assert cells["  sessions unknown"] == ["0", "1"]
    assert cells["  cost per turn"] == ["$0.4531", "-"]  # 1.359375 / 3
    assert cells["cost: main loop"] == ["$0.8750", "$0"]
    assert cells["  sub-agents"] == ["$0.4062", "$0"]
    assert cells["    Explore"] == ["$0.2500", "$0"]
    assert cells["    general-purpose"] == ["$0.1250", "$0"]
    assert cells["    (unknown)"] == ["$0.0312", "$0"]
    assert cells["  rest"] == ["$0.0781", "$0.7500"]


def test_the_session_list_shows_each_sessions_turns_and_breakdown() -> None:
    text = session_list(report("session"))
    assert all(len(line) <= 100 for line in text.splitlines())
    assert (
        "  s1  2 turns, main: $0.7500, subagent:Explore: $0.2500, subagent:general-purpose: $0.1250,\n"
        "      rest: $0.0625, per turn: $0.5938\n" in text
    )
    assert "  s3  ? turns, main: $0, rest: $0.7500" in text


def test_json_and_csv_carry_the_breakdown_and_turns() -> None:
    data = json.loads(to_json(report("session")))
    s1 = next(g for g in data["groups"] if g["key"] == "s1")
    assert s1["cost_breakdown"] == {
        "main": 0.75,
        "subagent:Explore": 0.25,
        "subagent:general-purpose": 0.125,
        "rest": 0.0625,
    }
    assert (s1["turns"], s1["turns_unknown_sessions"], s1["cost_per_turn"]) == (2, 0, 0.59375)
    assert Report.from_dict(data).groups[0].cost_breakdown == report("session").groups[0].cost_breakdown
    rows_ = {r["group"]: r for r in csv.DictReader(io.StringIO(to_csv(report("session"))))}
    assert rows_["s1"]["cost_breakdown"] == (
        "main=0.75;subagent:Explore=0.25;subagent:general-purpose=0.125;rest=0.0625"
    )
    assert (rows_["s1"]["turns"], rows_["s1"]["cost_per_turn"], rows_["s1"]["cost_subagent_usd"]) == (
        "2",
        "0.59375",
        "0.375",
    )
    assert (rows_["s3"]["turns"], rows_["s3"]["turns_unknown_sessions"], rows_["s3"]["cost_per_turn"]) == (
        "0",
        "1",
        "",
    )
