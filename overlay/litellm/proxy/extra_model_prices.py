"""Prices for models newer than the pinned LiteLLM's bundled price map.

Part of the claude-session overlay on LiteLLM (see patches/series). The stack
passes a price file in CLAUDE_SESSION_PRICES (the same file it registers in
Phoenix), so LiteLLM's cost on the span and Phoenix's own cost agree.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import litellm
from claude_session import errors, pricing

_log = logging.getLogger("LiteLLM")


def register_from_env() -> list[str]:
    path = os.environ.get("CLAUDE_SESSION_PRICES")
    if not path:
        return []
    try:
        prices = pricing.load_extra_prices(Path(path))
    except errors.UserError as err:
        _log.warning("claude-session: extra model prices not loaded: %s", err)
        return []
    entries = {}
    for price in prices:
        entry: dict[str, object] = {
            "litellm_provider": "anthropic",
            "mode": "chat",
            "input_cost_per_token": price.input,
            "output_cost_per_token": price.output,
        }
        if price.cache_read is not None:
            entry["cache_read_input_token_cost"] = price.cache_read
        if price.cache_write is not None:
            entry["cache_creation_input_token_cost"] = price.cache_write
        entries[price.name] = entry
        entries[f"anthropic/{price.name}"] = entry
    litellm.register_model(entries)
    return sorted(entries)
