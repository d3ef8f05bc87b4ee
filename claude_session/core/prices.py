"""Model prices: LiteLLM's bundled Anthropic prices and the user's price file for newer models.

Both the proxy (LiteLLM's cost on each span) and Phoenix (its own cost column) are given the
same prices, so the two figures agree. Standard library at import (YAML is read on demand).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_session.core.errors import ClaudeSessionError


class PriceError(ClaudeSessionError):
    """LiteLLM's price map or the user's price file cannot be read."""


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
        raise PriceError("LiteLLM is not installed in this Python environment; run scripts/install")
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


def load_extra_prices(path: Path) -> list[ModelPrice]:
    """Prices for models newer than the pinned LiteLLM's map (YAML: name -> USD per million tokens).

    claude-new-model:
      input: 3.0
      output: 15.0
      cache_read: 0.3      # optional
      cache_write: 3.75    # optional
    """
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise PriceError(f"cannot read the price file {path}: {err}", exit_code=2) from None
    if not isinstance(data, dict):
        raise PriceError(f"{path}: expected a mapping of model name to prices", exit_code=2)
    prices = []
    for name, entry in data.items():
        try:
            prices.append(
                ModelPrice(
                    name=str(name),
                    input=float(entry["input"]) / _PER_MILLION,
                    output=float(entry["output"]) / _PER_MILLION,
                    cache_read=_per_token(entry.get("cache_read")),
                    cache_write=_per_token(entry.get("cache_write")),
                )
            )
        except (TypeError, KeyError, ValueError):
            raise PriceError(
                f"{path}: model {name!r} needs numeric input and output prices", exit_code=2
            ) from None
    return prices


def _per_token(per_million: object) -> float | None:
    return None if per_million is None else float(per_million) / _PER_MILLION  # type: ignore[arg-type]


def _optional(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
