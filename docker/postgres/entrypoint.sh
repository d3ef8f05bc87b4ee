#!/usr/bin/env bash
# Initialise the cluster on first start (as the official image does), then run postgres.
set -euo pipefail

main() {
  local user="${POSTGRES_USER:-postgres}" db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
  if [[ ! -s "${PGDATA}/PG_VERSION" ]]; then
    [[ -n "${POSTGRES_PASSWORD:-}" ]] || { echo "postgres: POSTGRES_PASSWORD is not set" >&2; exit 1; }
    local pwfile
    pwfile="$(mktemp)"
    printf '%s\n' "${POSTGRES_PASSWORD}" >"${pwfile}"
    initdb --username="${user}" --pwfile="${pwfile}" --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
    rm -f "${pwfile}"
    echo "host all all all scram-sha-256" >>"${PGDATA}/pg_hba.conf"
    if [[ "${db}" != postgres ]]; then
      pg_ctl --wait --silent -o "-c listen_addresses=''" start
      createdb --username="${user}" "${db}"
      pg_ctl --wait --silent stop
    fi
  fi
  exec postgres -c listen_addresses='*'
}

main "$@"
