"""What the proxy refuses in a Messages request body before LiteLLM reads it.

LiteLLM 1.108.7 answers a body that is JSON but not an object with a 500 (its auth step
calls ``.get`` on it) and forwards a body without ``model`` upstream as model ``None/None``.
The session middleware asks :func:`problem` first and answers Anthropic's 400
``invalid_request_error`` itself. Everything else (``messages``, ``max_tokens``, content
blocks) is the upstream's to judge: the proxy forwards it and returns the upstream's answer.

Standard library only: this runs on the proxy's request path.
"""

from __future__ import annotations

import json
from typing import Final

# LiteLLM's Anthropic routes (the pass-through /anthropic/... forwards bodies as they are).
MESSAGES_PATHS: Final = frozenset({"/v1/messages", "/v1/messages/count_tokens"})


def problem(raw: bytes) -> str | None:
    """Why the proxy refuses this Messages request body (one line), or None to let it through."""
    try:
        body: object = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return "Invalid JSON payload: the request body is not JSON"
    if not isinstance(body, dict):
        return f"Invalid JSON payload: the request body must be a JSON object, not {_json_kind(body)}"
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        return "model: Field required (a non-empty string naming the model)"
    return None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"
