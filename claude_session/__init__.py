"""Session tracking for Claude Code through a patched LiteLLM proxy and Arize Phoenix.

Kept import-light on purpose: the patched proxy imports `claude_session.core.fields`
on its hot path, and the launcher must start fast.
"""

from pathlib import Path

__version__ = "0.1.0"

# The checkout the package runs from (scripts/install installs it editable): compose.yaml,
# scripts/ and the Claude Code CLI in .tools/ live there.
CHECKOUT = Path(__file__).resolve().parent.parent
