# The patched LiteLLM proxy of claude-session (docs/docker.md).
#
# The image is built by the same script as a local install: scripts/install
# --proxy-only installs requirements/proxy.txt with the pins of
# requirements/pins.txt and runs scripts/apply-patches, which exits 1 (and so
# fails the build) when any patch of patches/series does not apply.
#
#   docker build -t claude-session .
#   docker run --rm -e LITELLM_MASTER_KEY=sk-... -p 127.0.0.1:4000:4000 claude-session
#
# No secret is a build argument or lives in a layer: the master key and any
# Anthropic key reach the container as environment variables at run time.

# Base image: tag and digest (multi-arch index). Refresh both together:
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# Without registry access, pass any local Debian-based Python 3.11 image instead
# (docs/docker.md, "Without registry access"; scripts/docker-engine makes one from debootstrap):
#   docker build --build-arg PYTHON_IMAGE=claude-session-local/python:3.11-bookworm .
# No `# syntax=` line on purpose: BuildKit would pull its frontend from a registry.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${PYTHON_IMAGE} AS builder

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    PYTHONDONTWRITEBYTECODE=1

# The package is installed editable from here: the runtime stage copies this
# directory to the same path.
WORKDIR /opt/claude-session

# The LiteLLM label below must name the pinned version: fail the build if it does not.
ARG LITELLM_VERSION=1.108.7
COPY requirements/ requirements/
RUN pinned="$(grep -E '^litellm==' requirements/pins.txt | cut -d= -f3)" \
    && { test "${pinned}" = "${LITELLM_VERSION}" \
         || { echo "LITELLM_VERSION=${LITELLM_VERSION} but requirements/pins.txt pins litellm==${pinned}" >&2; exit 1; }; }

# The one install path (it apt-get installs Debian's `patch` itself, as root). It runs
# before the package's own source is copied, on claude_session/ holding only __init__.py
# (the version pyproject.toml reads; the editable install maps the package to this
# directory), so a change elsewhere under claude_session/ reuses this layer instead of
# reinstalling every dependency (README.md too: an empty one here, as pyproject.toml names
# it, the real one copied below; of scripts/, only the two it runs).
COPY pyproject.toml ./
COPY patches/ patches/
COPY overlay/ overlay/
COPY scripts/install scripts/apply-patches scripts/
COPY claude_session/__init__.py claude_session/
RUN touch README.md \
    && scripts/install --proxy-only --venv /opt/venv \
    && test -f /opt/venv/lib/python3*/site-packages/litellm/.claude-session-patches \
    && rm -rf .tools /var/lib/apt/lists/*

COPY README.md ./
COPY scripts/ scripts/
COPY claude_session/ claude_session/
COPY docker/ docker/
RUN chmod 0755 docker/entrypoint.sh \
    && /opt/venv/bin/python -c 'import claude_session.proxy.settings'

FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG LITELLM_VERSION=1.108.7
ARG SOURCE=https://github.com/claude-session/claude-session
ARG REVISION=unknown
LABEL org.opencontainers.image.title="claude-session" \
      org.opencontainers.image.description="Patched LiteLLM proxy that tags every Claude Code span in Arize Phoenix with its session" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      io.github.claude-session.litellm.version="${LITELLM_VERSION}"

RUN groupadd --system --gid 10001 claude \
    && useradd --system --uid 10001 --gid claude --create-home --home-dir /home/claude \
       --shell /usr/sbin/nologin claude \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/claude-session /var/lib/claude-session/spool

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/claude-session /opt/claude-session

ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    CLAUDE_SESSION_PROXY_SESSION_FILE=/var/lib/claude-session/proxy_session.json \
    CLAUDE_SESSION_SPOOL_DIR=/var/lib/claude-session/spool

USER 10001:10001
WORKDIR /home/claude
EXPOSE 4000

HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=4 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness', timeout=4)"]

ENTRYPOINT ["/opt/claude-session/docker/entrypoint.sh"]
