"""Warm a proxy worker before it takes traffic: what LiteLLM would otherwise load on the first request.

LiteLLM 1.108.7 imports about 230 ms of modules lazily the first time a worker serves
`/v1/messages` (the tokenizer's default encoding alone ~130 ms, MCP, guardrail and OTel
modules), so each worker's first request after a start was slow (p95 249 ms vs 5 ms
steady, bench/README.md). The list below is what `PYTHONPROFILEIMPORTTIME=1` showed a worker
importing during its first request (top-level entries only); each is imported once, when
the app's lifespan startup completes and before uvicorn serves the worker's socket. Nothing
here sends a request anywhere (online, a request upstream would cost the user money).
"""

from __future__ import annotations

import gc
import importlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

_log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

LAZY_MODULES = (
    "litellm.litellm_core_utils.default_encoding",  # tiktoken's encoding: ~130 ms
    "litellm.integrations.otel.logger",
    "litellm.proxy._experimental.mcp_server.mcp_server_manager",
    "litellm.proxy._experimental.mcp_server.auth.user_api_key_auth_mcp",
    "litellm.proxy._experimental.mcp_server.guardrail_translation",
    "litellm.integrations.shadow_eval_logger",
    "litellm.llms.github_copilot.per_user_auth",
    "litellm.llms.anthropic.pass_through.messages.streaming_iterator",
    "litellm.llms.bedrock.passthrough.guardrail_translation.handler",
    "litellm.llms.pass_through.guardrail_translation.handler",
    "litellm.llms.a2a.chat.transformation",
    "litellm.llms.a2a.chat.guardrail_translation.handler",
    "litellm.llms.gemini.google_genai.guardrail_translation.handler",
    "litellm.llms.mistral.ocr.guardrail_translation.handler",
    "litellm.llms.openai.transcriptions.guardrail_translation.handler",
    "litellm.llms.openai.videos.guardrail_translation.handler",
    "litellm.llms.openai.completion.guardrail_translation.handler",
    "litellm.llms.openai.speech.guardrail_translation.handler",
    "litellm.llms.openai.embeddings.guardrail_translation.handler",
    "litellm.llms.cohere.rerank.guardrail_translation.handler",
    "litellm.proxy.guardrails.guardrail_helpers",
    "litellm_enterprise.proxy.auth.route_checks",
    "litellm.types.litellm_core_utils.streaming_chunk_builder_utils",
    "anyio._core._sockets",
    "anyio._core._streams",
    "anyio._backends._asyncio",  # anyio loads its event loop backend on first use: ~50 ms
)


# Pydantic models LiteLLM defers building (3,000 of them) that the first request builds: the
# ones found built after a first request that were not before (module:qualname).
DEFERRED_MODELS = (
    "litellm.types.proxy.auth.user_api_key_auth:UserAPIKeyAuth",
    "litellm.models.user:LiteLLM_UserTable",
    "litellm.proxy.auth.network:NetworkContext",
    "litellm.proxy.auth.network:TrustedProxyConfig",
    "litellm.proxy.auth.resolvers.models:CredentialRef",
    "litellm.proxy.auth.resolvers.models:EndUserIdentity",
    "litellm.proxy.auth.resolvers.models:Principal",
    "litellm.proxy.auth.resolvers.models:UserIdentity",
    "litellm.types.llms.anthropic_messages.anthropic_request:AnthropicMetadata",
    "litellm.types.router:CredentialLiteLLMParams",
    "litellm.types.router:GenericLiteLLMParams",
    "litellm.types.router:ModelGroupInfo",
    "litellm.types.services:ServiceLoggerPayload",
    "litellm.types.utils:Choices",
    "litellm.types.utils:CompletionTokensDetailsWrapper",
    "litellm.types.utils:Delta",
    "litellm.types.utils:Message",
    "litellm.types.utils:ModelResponse",
    "litellm.types.utils:ModelResponseStream",
    "litellm.types.utils:PromptTokensDetailsWrapper",
    "litellm.types.utils:StreamingChoices",
    "litellm.types.utils:Usage",
    "litellm.llms.anthropic.prompt_cache_prediction:_CacheUsage",
    "litellm.llms.anthropic.prompt_cache_prediction:_Choice",
    "litellm.llms.anthropic.prompt_cache_prediction:_Response",
    "litellm.llms.anthropic.prompt_cache_prediction:_Usage",
    "litellm.proxy.hooks.prompt_cache_prediction:_Event",
    "litellm.proxy.hooks.prompt_cache_prediction:_Logged",
    "litellm.proxy.hooks.prompt_cache_prediction:_Metadata",
)

# Caches LiteLLM fills on first use (module:function, called without arguments).
LAZY_CACHES = (
    "litellm.llms:load_guardrail_translation_mappings",  # walks every provider's guardrail module
    "litellm.utils:_rebuild_model_cost_lowercase_map",
)

# FastAPI 0.165 builds each included router's route table (dependants, TypeAdapters) on the
# first request that walks it: ~1 s of CPU here. Matching these requests builds it; nothing runs.
WARM_ROUTES = (("POST", "/v1/messages"), ("POST", "/anthropic/v1/messages"))


def warm_up(app: Any = None) -> float:
    """Import the lazy modules, build the deferred models, match the warm routes on `app`.

    Best effort: a module, model or route that is missing is skipped. Returns the seconds taken.
    """
    started = time.perf_counter()
    for name in LAZY_MODULES:
        _best_effort(importlib.import_module, name)
    for qualified in DEFERRED_MODELS:
        _best_effort(_build_model, qualified)
    for qualified in LAZY_CACHES:
        _best_effort(_call, qualified)
    if app is not None:
        for method, path in WARM_ROUTES:
            _best_effort(_match_route, app, method, path)
    return time.perf_counter() - started


def freeze_startup_heap() -> int:
    """Keep what start-up and warm-up built out of the garbage collector's full passes.

    A worker holds about 900,000 objects from then on (LiteLLM's modules, models and caches)
    that live as long as it does; each full collection walked them all (0.47 s of CPU here,
    once every few hundred requests). gc.freeze() moves them to a generation the collector
    never scans; the garbage of start-up is collected first. Returns the objects frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _best_effort(step: Callable[..., object], *args: Any) -> None:
    try:
        step(*args)
    except Exception as err:  # warming must never stop a worker from starting
        _log.debug("claude-session warm-up: %s%r skipped: %s", getattr(step, "__name__", step), args, err)


def _build_model(qualified: str) -> None:
    module, _, name = qualified.partition(":")
    model = getattr(importlib.import_module(module), name)
    if not model.__pydantic_complete__:
        model.model_rebuild()


def _call(qualified: str) -> None:
    module, _, name = qualified.partition(":")
    getattr(importlib.import_module(module), name)()


def _route_scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
            "query_string": b""}  # fmt: skip


def _match_route(app: Any, method: str, path: str) -> None:
    from starlette.routing import Match

    scope = _route_scope(method, path)
    for route in app.router.routes:
        if route.matches(scope)[0] is Match.FULL:
            return


async def load_lazy_features(app: Any) -> list[str]:
    """Register the optional LiteLLM routers the warm routes need, as their first request would.

    LiteLLM 1.108.7 registers the Anthropic endpoints (/v1/messages) and the provider
    pass-through (/anthropic/...) on the first request under their prefix (its
    LazyFeatureMiddleware): an import and a route table rebuild, ~100 ms of that request.
    That middleware itself is run here on each warm route, with nothing behind it, so the
    choice of features is LiteLLM's own. Best effort. Returns the modules it loaded.
    """
    try:
        from litellm.proxy._lazy_features import LazyFeatureMiddleware
    except ImportError:  # a LiteLLM without lazy routes has them all from the start
        return []

    async def nothing(*_: Any) -> None:
        return None  # the warm "request" ends at the middleware: no route runs

    try:
        loader = LazyFeatureMiddleware(nothing, fastapi_app=app)
        before = set(app.state.lazy_loaded)
    except Exception as err:  # warming must never stop a worker from starting
        _log.debug("claude-session warm-up: lazy features skipped: %s", err)
        return []
    for method, path in WARM_ROUTES:
        try:
            await loader(_route_scope(method, path), nothing, nothing)
        except Exception as err:
            _log.debug("claude-session warm-up: lazy features for %s %s skipped: %s", method, path, err)
    return sorted(set(app.state.lazy_loaded) - before)


def warm_before_startup_complete(scope: Scope, send: Send) -> Send:
    """`send` for a lifespan scope: warm the worker before reporting its startup complete.

    uvicorn starts serving a worker's socket only after the app's startup completes, so the
    worker takes its first request warm (and `up`'s health check waits for it).
    """

    async def sending(message: Message) -> None:
        if message.get("type") == "lifespan.startup.complete":
            if scope.get("app") is not None:
                await load_lazy_features(scope["app"])
            seconds = warm_up(scope.get("app"))
            _log.debug("claude-session warm-up: %.3f s", seconds)
            freeze_startup_heap()
        await send(message)

    return sending
