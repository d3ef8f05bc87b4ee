"""Entry point for patch 0002: the logic lives in claude_session.proxy.span_attributes."""

from claude_session.proxy.span_attributes import set_session_attributes

__all__ = ["set_session_attributes"]
