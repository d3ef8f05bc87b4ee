"""The upstream's answer as Claude Code's LLM gateway protocol wants it: unchanged.

A gateway returns the upstream's status code, its Anthropic error body and the headers
``request-id``, ``retry-after``, ``x-should-retry`` and ``anthropic-ratelimit-*`` as they
came. LiteLLM 1.108.7 maps an upstream error to its own exception classes on the way
(529 becomes 500, 413 becomes 400, the message is rewritten, the headers are dropped) and
answers a non-streamed success without the upstream's headers. Patch 0015 keeps the
provider's own exception on the mapped one (``provider_exception``); patch 0016 has the
``/v1/messages`` endpoint answer with what this module rebuilds from it, and copy the
headers of a successful answer (through the overlay module litellm/proxy/upstream_answer.py).

Standard library and Starlette only: this runs on the proxy's request path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from starlette.responses import Response

EXACT_HEADERS: Final = frozenset({"request-id", "retry-after", "x-should-retry"})
HEADER_PREFIXES: Final = ("anthropic-ratelimit-",)
# LiteLLM copies a provider's headers onto its own answers under this prefix.
_PROVIDER_PREFIX: Final = "llm_provider-"


def is_protocol_header(name: str) -> bool:
    """Whether the protocol says a gateway passes this response header through unchanged."""
    lower = name.lower()
    return lower in EXACT_HEADERS or lower.startswith(HEADER_PREFIXES)


def protocol_headers(headers: object) -> dict[str, str]:
    """The protocol's headers among ``headers`` (any mapping or httpx.Headers), names lower case.

    A name LiteLLM prefixed with ``llm_provider-`` counts under its own name; an unprefixed
    header wins over a prefixed copy.
    """
    items = getattr(headers, "items", None)
    if not callable(items):
        return {}
    found: dict[str, str] = {}
    prefixed: dict[str, str] = {}
    for name, value in items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        lower = name.lower()
        if lower.startswith(_PROVIDER_PREFIX):
            lower = lower[len(_PROVIDER_PREFIX) :]
            if is_protocol_header(lower):
                prefixed[lower] = value
        elif is_protocol_header(lower):
            found[lower] = value
    return {**prefixed, **found}


def is_anthropic_error(body: object) -> bool:
    """``{"type": "error", "error": {"type": str, "message": str}}``: Anthropic's error envelope."""
    if not isinstance(body, dict) or body.get("type") != "error":
        return False
    error = body.get("error")
    return (
        isinstance(error, dict)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("message"), str)
    )


def upstream_error(exc: BaseException) -> tuple[int, bytes, dict[str, str]] | None:
    """(status, body, protocol headers) of the upstream's error answer behind ``exc``, when the
    upstream answered with an Anthropic error envelope; None for anything else (a timeout, a
    dropped connection, an error LiteLLM raised itself), which LiteLLM answers as before."""
    provider: object = getattr(exc, "provider_exception", None)
    status = getattr(provider, "status_code", None)
    text = getattr(provider, "message", None)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        return None
    if not isinstance(text, str):
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not is_anthropic_error(body):
        return None
    headers = getattr(provider, "headers", None) or getattr(exc, "litellm_response_headers", None)
    return status, text.encode(), protocol_headers(headers)


def error_response(exc: BaseException) -> Response | None:
    """The upstream's error answer, unchanged, as the response to send; None: not an upstream answer."""
    found = upstream_error(exc)
    if found is None:
        return None
    status, body, headers = found
    return Response(content=body, status_code=status, headers=headers, media_type="application/json")


def copy_success_headers(request_data: Mapping[str, Any], result: object, fastapi_response: Response) -> None:
    """Put the upstream's protocol headers on a successful answer that lacks them.

    The upstream's headers are on the request's logging object (``response_headers`` in its
    ``model_call_details``, set by LiteLLM's /v1/messages handler). A streamed answer is a
    Starlette response of its own; a non-streamed one is a dict, and FastAPI sends it with
    the headers of the endpoint's ``Response`` parameter.
    """
    logging_obj = request_data.get("litellm_logging_obj")
    details = getattr(logging_obj, "model_call_details", None)
    if not isinstance(details, dict):
        return
    upstream = protocol_headers(details.get("response_headers"))
    target = result.headers if isinstance(result, Response) else fastapi_response.headers
    for name, value in upstream.items():
        if name not in target:
            target[name] = value
