"""The shipped tuning keeps the spans whole: two spans per request, prompts kept, no junk span.

stack.proxy_env.PROXY_TUNING_ENV turns LiteLLM's `raw_gen_ai_request` span off through OpenTelemetry's
capture-mode setting, which LiteLLM's arize_phoenix attributes do not consult; this checks
that the spans Phoenix gets still carry the prompt and the reply.
"""

from __future__ import annotations

from claude_session.session import launcher
from tests.support import LLM_SPAN, Stack, wait_for_spans


def test_two_spans_per_request_with_prompt_and_reply_and_no_junk(live_stack: Stack) -> None:
    session = launcher.Session.new("span-shape", "v1", "tuned spans").as_metadata()
    response = live_stack.messages(session, stream=True, prompt="keep my prompt on the span")
    assert response.status_code == 200
    spans = wait_for_spans(live_stack, {"session.id": session["session_id"]}, 2, name=None)
    assert sorted(span["name"] for span in spans) == ["litellm_proxy_request", LLM_SPAN]
    (llm,) = (span for span in spans if span["name"] == LLM_SPAN)
    attributes = llm["attributes"]
    assert attributes["llm.input_messages.0.message.content"] == "keep my prompt on the span"
    assert attributes["llm.output_messages.0.message.content"]
    for span in spans:
        assert not [key for key in span["attributes"] if key.startswith("llm.None.")], span["name"]
