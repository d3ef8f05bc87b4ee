#!/usr/bin/env bash
# Start the patched LiteLLM proxy inside the container (the image's ENTRYPOINT).
#
# The LiteLLM config is the one the local stack uses, rendered by
# claude_session.proxy.config, unless one is mounted at /etc/claude-session/litellm.yaml.
# Environment:
#   LITELLM_MASTER_KEY       required: the proxy's key (sk-...), from .env in compose
#   ANTHROPIC_API_KEY        optional: the proxy's own Anthropic key; without it the
#                            client's own credential is forwarded
#   CLAUDE_SESSION_UPSTREAM  Anthropic API base (default https://api.anthropic.com)
#   PHOENIX_COLLECTOR_HTTP_ENDPOINT, PHOENIX_PROJECT_NAME, PHOENIX_SESSION_*: as locally
# Extra arguments are passed to `litellm` (e.g. --num_workers 2).
set -euo pipefail

readonly MOUNTED_CONFIG=/etc/claude-session/litellm.yaml
readonly DEFAULT_UPSTREAM=https://api.anthropic.com
readonly PORT=4000

die() {
  echo "claude-session entrypoint: $*" >&2
  exit 1
}

require_master_key() {
  if [[ -z "${LITELLM_MASTER_KEY:-}" ]]; then
    die "LITELLM_MASTER_KEY is not set: put one in .env (see .env.example) or pass -e LITELLM_MASTER_KEY=sk-..."
  fi
  if [[ "${LITELLM_MASTER_KEY}" != sk-* ]]; then
    die "LITELLM_MASTER_KEY must start with 'sk-' (LiteLLM refuses other keys)"
  fi
}

# The config path to run with: the mounted one, or one rendered into a private temp dir.
proxy_config() {
  local upstream="$1" dir
  if [[ -f "${MOUNTED_CONFIG}" ]]; then
    echo "${MOUNTED_CONFIG}"
    return
  fi
  local -a key_option=()
  # The proxy's own key is used when ANTHROPIC_API_KEY is set (its value is never written).
  [[ -n "${ANTHROPIC_API_KEY:-}" ]] && key_option=(--server-key)
  dir="$(mktemp -d)"
  python -m claude_session.proxy.config --upstream "${upstream}" "${key_option[@]}" \
    --num-retries "${CLAUDE_SESSION_PROXY_RETRIES:-}" --output "${dir}/litellm.yaml" >&2 \
    || die "cannot render the LiteLLM config"
  echo "${dir}/litellm.yaml"
}

# The local stack's tuned defaults (workers, no access log, span batching...); set values win.
apply_tuning_defaults() {
  local line key
  while IFS= read -r line; do
    key="${line%%=*}"
    if [[ -z "${!key:-}" ]]; then export "${line?}"; fi
  done < <(python -m claude_session.stack.proxy_env --tuning-env)
}

# The guide's PHOENIX_SESSION_TYPE (or version, or name) without an id: one id for the whole
# proxy, made here before its workers start (each worker would otherwise make its own).
ensure_proxy_wide_session_id() {
  if [[ -n "${PHOENIX_SESSION_ID:-}" ]]; then return; fi
  if [[ -z "${PHOENIX_SESSION_TYPE:-}${PHOENIX_PROMPT_VERSION:-}${PHOENIX_SESSION_NAME:-}" ]]; then return; fi
  export PHOENIX_SESSION_TYPE="${PHOENIX_SESSION_TYPE:-general}"
  PHOENIX_SESSION_ID="${PHOENIX_SESSION_TYPE}-$(date -u +%Y%m%d-%H%M%S)-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
  export PHOENIX_SESSION_ID
}

main() {
  require_master_key
  apply_tuning_defaults
  ensure_proxy_wide_session_id
  local upstream="${CLAUDE_SESSION_UPSTREAM:-${DEFAULT_UPSTREAM}}" config
  # Client-side variables would make the proxy call itself; an empty key means "none".
  unset ANTHROPIC_BASE_URL ANTHROPIC_AUTH_TOKEN ANTHROPIC_CUSTOM_HEADERS
  if [[ -z "${ANTHROPIC_API_KEY:-}" ]]; then unset ANTHROPIC_API_KEY; fi
  # The pass-through route /anthropic takes its target from here.
  export ANTHROPIC_API_BASE="${ANTHROPIC_API_BASE:-${upstream}}"
  export LITELLM_LOCAL_MODEL_COST_MAP="${LITELLM_LOCAL_MODEL_COST_MAP:-True}"
  config="$(proxy_config "${upstream}")"
  echo "claude-session: LiteLLM proxy on port ${PORT}, config ${config}, upstream ${upstream}" >&2
  exec litellm --config "${config}" --host 0.0.0.0 --port "${PORT}" \
    --num_workers "${CLAUDE_SESSION_PROXY_WORKERS}" "$@"
}

main "$@"
