"""Entry point for patch 0016: the logic lives in claude_session.proxy.upstream_answer."""

from claude_session.proxy.upstream_answer import copy_success_headers, error_response

__all__ = ["copy_success_headers", "error_response"]
