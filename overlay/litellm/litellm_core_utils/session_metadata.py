"""Entry point for patches 0001 and 0006: the logic lives in claude_session.proxy."""

from claude_session.proxy.metadata import merge_requester_metadata
from claude_session.proxy.redaction import redact_headers

__all__ = ["merge_requester_metadata", "redact_headers"]
