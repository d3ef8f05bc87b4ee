"""Session tracking for Claude Code through a patched LiteLLM proxy and Arize Phoenix.

Kept import-light on purpose: the patched proxy imports `claude_session.fields`
on its hot path, and the launcher must start fast.
"""

__version__ = "0.1.0"
