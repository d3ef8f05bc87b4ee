"""The session.* span attributes for Arize / Phoenix spans.

Called from LiteLLM's Phoenix integration (patch 0002, through the overlay). Order of
precedence for each field: the request's own session (headers, already merged
into requester_metadata), then the proxy-wide PHOENIX_SESSION_* defaults, and
only for session.id, last, the client's own conversation id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from claude_session.core import fields, gateway_hints
from claude_session.proxy.metadata import proxy_defaults

if TYPE_CHECKING:
    from opentelemetry.trace import Span


def _valid(field: fields.SessionField, value: object) -> str | None:
    """The value if the field accepts it: body metadata is client data and is checked too."""
    if not isinstance(value, str):
        return None
    try:
        return fields.validate(field, value)
    except fields.InvalidSessionValue:
        return None


def _conversation_id_from_user_id(user_id: object) -> str | None:
    """Claude Code's conversation id inside its metadata.user_id JSON string, if that is what it is."""
    if isinstance(user_id, str) and user_id.startswith("{"):
        try:
            user_id = json.loads(user_id)
        except ValueError:
            return None
    if isinstance(user_id, Mapping):
        return fields.valid_claude_code_id(user_id.get("session_id"))
    return None


def _claude_code_id(metadata: Mapping[str, Any], requester: Mapping[str, Any]) -> str | None:
    return (
        fields.valid_claude_code_id(requester.get(fields.CLAUDE_CODE_KEY))
        or _conversation_id_from_user_id(requester.get("user_id"))
        or _conversation_id_from_user_id(metadata.get("user_api_key_end_user_id"))
    )


def _fallback_session_id(metadata: Mapping[str, Any], claude_code_id: str | None) -> str | None:
    """Upstream's end-user id, unless it is Claude Code's whole user_id JSON (never a session id)."""
    if claude_code_id:
        return claude_code_id
    end_user = metadata.get("user_api_key_end_user_id")
    if isinstance(end_user, str) and end_user and not end_user.lstrip().startswith("{"):
        return end_user
    return None


def set_session_attributes(
    span: Span, metadata: Mapping[str, Any], *, defaults: Mapping[str, str] | None = None
) -> None:
    """Set session.id/type/prompt_version/name, session.user/experiment/run, claude_code.session_id
    and the gateway hints on `span` (the last three session fields only from the request: they have
    no proxy-wide value).

    `defaults`: the proxy-wide session; None means this process's (`proxy_defaults()`).
    """
    requester = metadata.get("requester_metadata")
    if not isinstance(requester, Mapping):
        requester = {}
    if defaults is None:
        defaults = proxy_defaults()
    claude_code_id = _claude_code_id(metadata, requester)
    for field in fields.FIELDS:
        value = _valid(field, requester.get(field.key)) or defaults.get(field.key)
        if value is None and field is fields.SESSION_ID:
            value = _fallback_session_id(metadata, claude_code_id)
        if value:
            span.set_attribute(field.attribute, value)
    for field in fields.REQUEST_ONLY_FIELDS:  # session.user, .experiment, .run: per request only
        value = _valid(field, requester.get(field.key))
        if value:
            span.set_attribute(field.attribute, value)
    if claude_code_id:
        span.set_attribute(fields.CLAUDE_CODE_ATTRIBUTE, claude_code_id)
    gateway_hints.set_attributes(span, requester)
