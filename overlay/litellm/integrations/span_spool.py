"""Entry point for patch 0011: the logic lives in claude_session.proxy.spool."""

from claude_session.proxy.spool import litellm_span_processor

__all__ = ["litellm_span_processor"]
