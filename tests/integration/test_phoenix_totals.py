"""Phoenix's own totals count each request once (real Phoenix, real patched proxy).

Each request makes a root `litellm_proxy_request` span and its `litellm_request` child. Only
the child carries the model, the tokens and the cost, so Phoenix's project, session and trace
totals equal the sum over the `litellm_request` spans (read back through the REST API).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from claude_session.proxy.root_span import SUMMARY_CHARS, TTFT_ATTRIBUTE
from claude_session.session import launcher
from tests.support import LLM_SPAN, Stack, wait_for_spans

ROOT_SPAN = "litellm_proxy_request"
REL = 0.01
TOKEN_KEYS = ("prompt", "completion", "prompt_details.cache_read", "prompt_details.cache_write")
SESSION_TOTALS = """
query($s: String!) { getProjectSessionById(sessionId: $s) {
  costSummary { total { cost tokens } prompt { tokens } completion { tokens } }
  tokenUsage { prompt completion }
} }"""
PROJECT_TOTALS = """
query($id: ID!, $f: String) { node(id: $id) { ... on Project {
  costSummary(filterCondition: $f) { total { cost tokens } prompt { tokens } completion { tokens } }
  tokenCountPrompt(filterCondition: $f) tokenCountCompletion(filterCondition: $f)
} } }"""
TRACE_TOTALS = """
query($id: ID!, $t: ID!) { node(id: $id) { ... on Project { trace(traceId: $t) {
  costSummary { total { cost tokens } }
} } } }"""


def _sums(spans: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """LiteLLM's figures summed over `litellm_request` spans: cost and each token count."""
    sums = dict.fromkeys(("cost", *TOKEN_KEYS), 0.0)
    for span in spans:
        if span["name"] != LLM_SPAN:
            continue
        attributes = span["attributes"]
        sums["cost"] += float(attributes.get("llm.cost.total") or 0.0)
        for key in TOKEN_KEYS:
            sums[key] += float(attributes.get(f"llm.token_count.{key}") or 0)
    return sums


def _until_equal(read: Callable[[], tuple[float, float]], timeout: float = 30.0) -> tuple[float, float]:
    """Phoenix prices spans as they are ingested: poll until both figures agree, or give up."""
    deadline = time.monotonic() + timeout
    while True:
        got, expected = read()
        if got == pytest.approx(expected, rel=REL) or time.monotonic() > deadline:
            return got, expected
        time.sleep(1.0)


@pytest.fixture(scope="module")
def traffic(live_stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Three sessions of the type `totals-<random>`: streamed, not streamed, and both (two requests)."""
    kind = f"totals-{uuid.uuid4().hex[:8]}"
    plan = {"sse": [True], "json": [False], "mixed": [True, False]}
    sessions: dict[str, list[dict[str, Any]]] = {}
    for label, streams in plan.items():
        session = launcher.Session.new(kind, "v1", label).as_metadata()
        for index, stream in enumerate(streams):
            prompt = f"{label} request {index} " + "x" * 600
            prompt += f" [[usage in={100 + index} out={20 + index} cache_read=40 cache_write=8]]"
            response = live_stack.messages(session, stream=stream, prompt=prompt)
            assert response.status_code == 200, response.text
        sessions[session["session_id"]] = wait_for_spans(
            live_stack, {"session.id": session["session_id"]}, 2 * len(streams), name=None
        )
    return sessions


def test_root_span_has_the_session_but_not_the_llm_call(traffic: dict[str, list[dict[str, Any]]]) -> None:
    for session_id, spans in traffic.items():
        roots = [span for span in spans if span["name"] == ROOT_SPAN]
        assert roots and len(roots) == len(spans) // 2
        for root in roots:
            attributes = root["attributes"]
            assert attributes["session.id"] == session_id
            assert attributes["session.type"].startswith("totals-")
            assert not [key for key in attributes if key.startswith("llm.")], sorted(attributes)
            assert len(attributes["input.value"]) <= SUMMARY_CHARS
            assert root["status_code"] == "OK"
        for llm in (span for span in spans if span["name"] == LLM_SPAN):
            assert llm["attributes"]["llm.model_name"]
            assert llm["attributes"]["llm.token_count.prompt"] > 0


def test_ttft_only_on_streamed_requests(traffic: dict[str, list[dict[str, Any]]]) -> None:
    streamed = not_streamed = 0
    for spans in traffic.values():
        for span in spans:
            attributes = span["attributes"]
            if span["name"] != LLM_SPAN:
                assert TTFT_ATTRIBUTE not in attributes
            elif attributes.get("llm.is_streaming") == "True":
                streamed += 1
                latency_ms = (_ns(span["end_time"]) - _ns(span["start_time"])) / 1e6
                assert 0 < attributes[TTFT_ATTRIBUTE] <= latency_ms + 1
            else:
                not_streamed += 1
                assert TTFT_ATTRIBUTE not in attributes
    assert (streamed, not_streamed) == (2, 2)


def _ns(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)


def test_session_totals_equal_the_litellm_request_sums(
    live_stack: Stack, traffic: dict[str, list[dict[str, Any]]]
) -> None:
    for session_id, spans in traffic.items():
        expected = _sums(spans)

        def read(session_id: str = session_id, expected: dict[str, float] = expected) -> tuple[float, float]:
            node = live_stack.phoenix.graphql(SESSION_TOTALS, {"s": session_id})["getProjectSessionById"]
            return float(node["costSummary"]["total"]["cost"] or 0.0), expected["cost"]

        got, want = _until_equal(read)
        assert want > 0
        assert got == pytest.approx(want, rel=REL), session_id
        node = live_stack.phoenix.graphql(SESSION_TOTALS, {"s": session_id})["getProjectSessionById"]
        assert node["tokenUsage"]["prompt"] == pytest.approx(expected["prompt"], rel=REL)
        assert node["tokenUsage"]["completion"] == pytest.approx(expected["completion"], rel=REL)
        assert node["costSummary"]["total"]["tokens"] == pytest.approx(
            expected["prompt"] + expected["completion"], rel=REL
        )


def test_trace_totals_equal_their_litellm_request(
    live_stack: Stack, traffic: dict[str, list[dict[str, Any]]]
) -> None:
    project_id = live_stack.phoenix.project_id(live_stack.project)
    for spans in traffic.values():
        for llm in (span for span in spans if span["name"] == LLM_SPAN):
            trace_id = llm["context"]["trace_id"]
            in_trace = [span for span in spans if span["context"]["trace_id"] == trace_id]
            assert sorted(span["name"] for span in in_trace) == sorted([LLM_SPAN, ROOT_SPAN])
            node = live_stack.phoenix.graphql(TRACE_TOTALS, {"id": project_id, "t": trace_id})["node"]
            summary = node["trace"]["costSummary"]["total"]
            assert summary["cost"] == pytest.approx(llm["attributes"]["llm.cost.total"], rel=REL)
            attributes = llm["attributes"]
            tokens = attributes["llm.token_count.prompt"] + attributes["llm.token_count.completion"]
            assert summary["tokens"] == pytest.approx(tokens, rel=REL)


def test_project_totals_equal_the_litellm_request_sums(
    live_stack: Stack, traffic: dict[str, list[dict[str, Any]]]
) -> None:
    project_id = live_stack.phoenix.project_id(live_stack.project)
    kind = next(iter(traffic.values()))[0]["attributes"]["session.type"]
    # The project's spans of this test's type (roots and children alike), then the whole project.
    for condition, spans_of in (
        (f"attributes['session']['type'] == '{kind}'", lambda: [s for v in traffic.values() for s in v]),
        (None, lambda: list(live_stack.phoenix.spans(live_stack.project))),
    ):
        sums: dict[str, float] = {}

        def read(
            condition: str | None = condition,
            spans_of: Callable[[], list[dict[str, Any]]] = spans_of,
            sums: dict[str, float] = sums,
        ) -> tuple[float, float]:
            sums.update(_sums(spans_of()))
            node = live_stack.phoenix.graphql(PROJECT_TOTALS, {"id": project_id, "f": condition})["node"]
            sums["phoenix_prompt"] = float(node["tokenCountPrompt"])
            sums["phoenix_completion"] = float(node["tokenCountCompletion"])
            sums["phoenix_tokens"] = float(node["costSummary"]["total"]["tokens"] or 0)
            return float(node["costSummary"]["total"]["cost"] or 0.0), sums["cost"]

        got, want = _until_equal(read)
        print(f"project totals ({condition or 'all'}): Phoenix ${got:.6f}, litellm_request sum ${want:.6f}")
        assert want > 0
        assert got == pytest.approx(want, rel=REL), condition
        assert sums["phoenix_prompt"] == pytest.approx(sums["prompt"], rel=REL)
        assert sums["phoenix_completion"] == pytest.approx(sums["completion"], rel=REL)
        assert sums["phoenix_tokens"] == pytest.approx(sums["prompt"] + sums["completion"], rel=REL)


def test_report_compares_with_phoenix_session_totals(
    live_stack: Stack, traffic: dict[str, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The report's "Phoenix's own figure" is the sum of its sessions' own cost, and agrees."""
    from claude_session.cli import main as cli

    kind = next(iter(traffic.values()))[0]["attributes"]["session.type"]
    argv = ["report", "--phoenix-url", live_stack.settings.phoenix_base, "--project", live_stack.project]
    assert cli.main([*argv, "--type", kind, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    sessions = sum(
        float(
            live_stack.phoenix.graphql(SESSION_TOTALS, {"s": s})["getProjectSessionById"]["costSummary"][
                "total"
            ]["cost"]
        )
        for s in traffic
    )
    litellm = sum(_sums(spans)["cost"] for spans in traffic.values())
    print(f"report: LiteLLM ${data['cost_usd']:.6f}, Phoenix sessions ${data['phoenix_cost_usd']:.6f}")
    assert data["phoenix_cost_usd"] == pytest.approx(sessions, rel=1e-9)
    assert data["cost_usd"] == pytest.approx(litellm, rel=1e-9)
    assert data["phoenix_cost_usd"] == pytest.approx(data["cost_usd"], rel=REL)
    assert cli.main([*argv, "--type", kind]) == 0
    lines = capsys.readouterr().out.splitlines()
    (line,) = [line for line in lines if "Phoenix's own figure for these sessions:" in line]
    assert line.endswith("(agrees)"), line
