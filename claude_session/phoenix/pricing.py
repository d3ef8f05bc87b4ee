"""Teach Phoenix the prices of the Anthropic models it does not know.

Phoenix prices spans itself, from its own model table, when they arrive; a Claude
model missing there shows $0. At start-up the stack registers, for every Anthropic
chat model in the pinned LiteLLM's bundled cost map that no Phoenix model pattern
matches, a custom model with LiteLLM's input, output, cache-read and cache-write
prices, so Phoenix's cost column agrees with LiteLLM's for Claude Code traffic.
"""

from __future__ import annotations

import re

from claude_session.core.prices import ModelPrice, litellm_anthropic_prices
from claude_session.phoenix.client import PhoenixClient

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


def register_missing_prices(client: PhoenixClient, extra: list[ModelPrice] = ()) -> list[str]:  # type: ignore[assignment]
    """Create a Phoenix model for each Anthropic model Phoenix cannot price; return their names."""
    patterns = known_patterns(client)
    created = []
    for price in [*litellm_anthropic_prices(), *extra]:
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
