"""Entry point for patches 0008 and 0009: the logic lives in claude_session.proxy.root_span."""

from claude_session.proxy.root_span import set_root_span_attributes, set_time_to_first_token

__all__ = ["set_root_span_attributes", "set_time_to_first_token"]
