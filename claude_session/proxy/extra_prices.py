"""Prices for models newer than the pinned LiteLLM's bundled price map.

Loaded once per proxy worker when the middleware is installed. The stack
passes a price file in CLAUDE_SESSION_PRICES (the same file it registers in
Phoenix), so LiteLLM's cost on the span and Phoenix's own cost agree.
"""

from __future__ import annotations

import logging

import litellm
from claude_session.core import errors
from claude_session.core.prices import load_extra_prices
from claude_session.proxy.settings import proxy_settings

_log = logging.getLogger("LiteLLM")


def register_from_env() -> list[str]:
    path = proxy_settings().prices_file
    if path is None:
        return []
    try:
        prices = load_extra_prices(path)
    except errors.ClaudeSessionError as err:
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
