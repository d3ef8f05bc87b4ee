"""The proxy process's environment: secrets as env vars, the proxy-wide session, the shipped tuning.

One list of tuning for both ways to run the proxy: the local stack applies it here, and
the container entrypoint prints it with `python -m claude_session.stack.proxy_env`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from claude_session.core import fields
from claude_session.stack.settings import DEFAULT_WORKERS, StackSettings

OFFLINE_UPSTREAM_KEY = "sk-offline-fake-upstream"  # the fake upstream accepts any key

# --- Tuning (figures in bench/README.md "## proxy overhead") ---
# Proxy env defaults; a value already set in the environment wins.
PROXY_TUNING_ENV = {
    # uvicorn logs at LiteLLM's level: no access-log line per request (errors still logged).
    "LITELLM_LOG": "WARNING",
    # No `raw_gen_ai_request` span (a copy of the request with llm.None.* attributes); the
    # Phoenix spans keep their prompts: the arize_phoenix attributes ignore this setting.
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT",
    # Span export runs in a background thread (BatchSpanProcessor), never on the request path.
    "OTEL_BSP_SCHEDULE_DELAY": "1000",  # ms; spans reach Phoenix ~1 s after the request (default 5 s)
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "256",  # ~10 MB per export with Claude Code's prompts
    "OTEL_BSP_MAX_QUEUE_SIZE": "2048",  # spans held while Phoenix is away; beyond, dropped and logged
    # One export retries for up to 45 s (backoff 1+2+4+8+16 s): a Phoenix restart loses nothing.
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "45",
}

# The client-side variables would make the proxy call itself or carry the user's terminal session.
_DROPPED_FROM_PROXY_ENV = frozenset(
    {"ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS"}
)


def proxy_env(
    settings: StackSettings,
    master_key: str,
    session: Mapping[str, str] | None,
    base: Mapping[str, str],
    inherit_session_env: bool,
    proxy_session_file: Path | None = None,
    phoenix_api_key: str | None = None,
    spool_dir: Path | None = None,
) -> dict[str, str]:
    """`base` less the client's variables, plus what the proxy needs; the proxy-wide session as
    PHOENIX_SESSION_* (`session`, or with `inherit_session_env` the guide's vars already in `base`)."""
    env = {k: v for k, v in base.items() if k not in _DROPPED_FROM_PROXY_ENV}
    manual = fields.from_env(base) if inherit_session_env else {}
    for field in fields.FIELDS:
        env.pop(field.env, None)
    env.update(fields.to_env(with_session_id(session if session is not None else manual)))
    env.update(
        {
            "LITELLM_MASTER_KEY": master_key,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the bundled price map: no fetch at start-up
            "PHOENIX_COLLECTOR_HTTP_ENDPOINT": settings.phoenix_base + "/v1/traces",
            "PHOENIX_PROJECT_NAME": settings.project,
            # The pass-through route /anthropic takes its target from here.
            "ANTHROPIC_API_BASE": settings.upstream_url,
        }
    )
    if phoenix_api_key:
        # LiteLLM's arize_phoenix exporter sends it as `Authorization: Bearer` (an env var, not argv).
        env["PHOENIX_API_KEY"] = phoenix_api_key
    if proxy_session_file is not None:
        # The proxy-wide session set with --proxy-wide, shared by every worker.
        env["CLAUDE_SESSION_PROXY_SESSION_FILE"] = str(proxy_session_file)
    if spool_dir is not None:
        # Span batches Phoenix did not take wait here (a value already set wins: a volume).
        env.setdefault("CLAUDE_SESSION_SPOOL_DIR", str(spool_dir))
    if settings.offline:
        env["ANTHROPIC_API_KEY"] = OFFLINE_UPSTREAM_KEY
    for key, value in PROXY_TUNING_ENV.items():
        env.setdefault(key, value)
    if settings.prices_file:
        env["CLAUDE_SESSION_PRICES"] = settings.prices_file  # read by the proxy at start
    else:
        env.pop("CLAUDE_SESSION_PRICES", None)
    return env


def with_session_id(session: Mapping[str, str]) -> dict[str, str]:
    """`session` with an id: made here, once, before the proxy's workers start.

    A proxy-wide type, version or name without an id (the guide's exported variables) would
    otherwise get one id per worker process, splitting one session in as many.
    """
    chosen = dict(session)
    if chosen and not chosen.get(fields.SESSION_ID.key):
        session_type = chosen.setdefault(fields.SESSION_TYPE.key, fields.DEFAULT_TYPE)
        chosen[fields.SESSION_ID.key] = fields.new_session_id(session_type)
    return chosen


def main(argv: list[str]) -> int:
    """`python -m claude_session.stack.proxy_env --tuning-env`: the shipped defaults as KEY=VALUE."""
    if argv != ["--tuning-env"]:
        print("usage: python -m claude_session.stack.proxy_env --tuning-env", file=sys.stderr)
        return 2
    for key, value in {**PROXY_TUNING_ENV, "CLAUDE_SESSION_PROXY_WORKERS": str(DEFAULT_WORKERS)}.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
