"""Teach Phoenix the prices of the Anthropic models it does not know.

Phoenix prices spans itself, from its own model table, when they arrive; a Claude
model missing there shows $0. At start-up the stack registers, for every Anthropic
chat model in the pinned LiteLLM's bundled cost map that no Phoenix model pattern
matches, a custom model with LiteLLM's input, output, cache-read and cache-write
prices, so Phoenix's cost column agrees with LiteLLM's for Claude Code traffic.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_session.errors import UserError
from claude_session.phoenix_api import PhoenixClient

_PER_MILLION = 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    name: str
    input: float  # USD per token
    output: float
    cache_read: float | None
    cache_write: float | None

    def costs(self) -> list[dict[str, Any]]:
        rows = [("input", self.input, "PROMPT"), ("output", self.output, "COMPLETION")]
        if self.cache_read is not None:
            rows.append(("cache_read", self.cache_read, "PROMPT"))
        if self.cache_write is not None:
            rows.append(("cache_write", self.cache_write, "PROMPT"))
        return [
            {"tokenType": token_type, "costPerMillionTokens": rate * _PER_MILLION, "kind": kind}
            for token_type, rate, kind in rows
        ]


def litellm_anthropic_prices() -> list[ModelPrice]:
    """Anthropic chat models in the installed LiteLLM's bundled cost map (no network)."""
    # Located without importing litellm: its import is slow and fetches a price map online.
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("LiteLLM is not installed in this Python environment; run scripts/install")
    location = Path(next(iter(spec.submodule_search_locations)))
    text = (location / "model_prices_and_context_window_backup.json").read_text()
    prices = []
    for name, entry in json.loads(text).items():
        if not isinstance(entry, dict) or entry.get("litellm_provider") != "anthropic":
            continue
        if entry.get("mode") != "chat" or "/" in name:
            continue
        if entry.get("input_cost_per_token") is None or entry.get("output_cost_per_token") is None:
            continue
        prices.append(
            ModelPrice(
                name=name,
                input=float(entry["input_cost_per_token"]),
                output=float(entry["output_cost_per_token"]),
                cache_read=_optional(entry.get("cache_read_input_token_cost")),
                cache_write=_optional(entry.get("cache_creation_input_token_cost")),
            )
        )
    return sorted(prices, key=lambda p: p.name)


def _optional(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


_MODELS_QUERY = "query { generativeModels(first: 5000) { edges { node { name namePattern } } } }"
_CREATE = """
mutation($input: CreateModelMutationInput!) {
  createModel(input: $input) { model { name } }
}
"""


def known_patterns(client: PhoenixClient) -> list[re.Pattern[str]]:
    data = client.graphql(_MODELS_QUERY)
    patterns = []
    for edge in data["generativeModels"]["edges"]:
        try:
            patterns.append(re.compile(edge["node"]["namePattern"]))
        except re.error:
            continue
    return patterns


def register_missing_prices(client: PhoenixClient) -> list[str]:
    """Create a Phoenix model for each LiteLLM Anthropic model Phoenix cannot price; return their names."""
    patterns = known_patterns(client)
    created = []
    for price in litellm_anthropic_prices():
        # Phoenix matches a span's model name with re.search on each pattern.
        if any(pattern.search(price.name) for pattern in patterns):
            continue
        client.graphql(
            _CREATE,
            {
                "input": {
                    "name": price.name,
                    "provider": "anthropic",
                    "namePattern": f"^{re.escape(price.name)}$",
                    "costs": price.costs(),
                }
            },
        )
        created.append(price.name)
    return created
