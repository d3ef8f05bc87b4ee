"""Entry point for patches 0003 and 0004: the logic lives in claude_session.proxy.middleware."""

from claude_session.proxy.middleware import SessionMetadataMiddleware, install, tag_request

__all__ = ["SessionMetadataMiddleware", "install", "tag_request"]
