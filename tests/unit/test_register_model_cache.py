"""Patch 0010: an identical model registration keeps LiteLLM's model cost caches (the installed LiteLLM)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled price map: no fetch

litellm = pytest.importorskip("litellm")
litellm_utils = pytest.importorskip("litellm.utils")

MODEL_KEY = "claude-session-test/registered-model"


def _generation() -> int:
    return int(litellm_utils.get_model_cost_mutation_generation())


def _register(input_cost: float) -> None:
    litellm.register_model(
        model_cost={MODEL_KEY: {"input_cost_per_token": input_cost, "litellm_provider": "anthropic"}},
        persist_across_reloads=False,
    )


def test_identical_registration_keeps_the_caches() -> None:
    _register(1e-6)
    _register(1e-6)  # an entry may settle on its second write
    settled = _generation()
    litellm.get_model_info(MODEL_KEY)
    hits_before = litellm_utils._cached_get_model_info.cache_info().hits
    for _ in range(3):
        _register(1e-6)
    litellm.get_model_info(MODEL_KEY)
    assert _generation() == settled
    assert litellm_utils._cached_get_model_info.cache_info().hits > hits_before  # not cleared


def test_changed_registration_still_invalidates() -> None:
    _register(1e-6)
    before = _generation()
    _register(2e-6)
    assert _generation() > before
    assert litellm.model_cost[MODEL_KEY]["input_cost_per_token"] == 2e-6
    assert litellm.get_model_info(MODEL_KEY)["input_cost_per_token"] == 2e-6


def test_client_side_credential_requests_keep_the_caches() -> None:
    router = litellm.Router(
        model_list=[
            {"model_name": "*", "litellm_params": {"model": "anthropic/*", "api_base": "http://127.0.0.1:9"}}
        ]
    )
    deployment = router.model_list[0]
    kwargs = {"metadata": {"model_group": "claude-sonnet-4-5"}, "api_key": "sk-client-test"}
    for _ in range(2):
        router._handle_clientside_credential(deployment=deployment, kwargs=kwargs)
    settled = _generation()
    for _ in range(5):
        router._handle_clientside_credential(deployment=deployment, kwargs=kwargs)
    assert _generation() == settled
    other = {"metadata": {"model_group": "claude-sonnet-4-5"}, "api_key": "sk-another-client"}
    router._handle_clientside_credential(deployment=deployment, kwargs=other)
    assert _generation() > settled  # a new client's deployment is a real change
