#!/bin/sh
# One-shot job (the postgres image, as the superuser): the non-superuser roles and their
# databases. Temporal's server and schema job connect as `temporal`, owner of `temporal` and
# `temporal_visibility`; the engine (registry, SPEC §11) connects as `filings`, owner of
# `filings`; Keycloak connects as `keycloak`, owner of `keycloak`. No role can create roles
# or databases, nor connect to another's databases. Idempotent: it runs on every `docker compose up`; an existing role gets the
# password of its secret file again (so a rotated password takes effect), an existing
# database is kept with its data.
#
# Reads PGHOST, PGPORT, PGUSER (the superuser) and PGPASSWORD, and the roles' passwords from
# TEMPORAL_DB_PASSWORD, FILINGS_DB_PASSWORD and KEYCLOAK_DB_PASSWORD (deploy/entrypoint.sh fills them from the
# *_FILE secrets). INIT_WAIT_SECONDS bounds the wait for the server (default 60).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${PGHOST:?PGHOST is required (the PostgreSQL host)}"
: "${PGUSER:?PGUSER is required (the superuser this job logs in as)}"
: "${PGPASSWORD:?PGPASSWORD (or PGPASSWORD_FILE) is required: the superuser password}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD (or TEMPORAL_DB_PASSWORD_FILE) is required}"
: "${FILINGS_DB_PASSWORD:?FILINGS_DB_PASSWORD (or FILINGS_DB_PASSWORD_FILE) is required}"
: "${KEYCLOAK_DB_PASSWORD:?KEYCLOAK_DB_PASSWORD (or KEYCLOAK_DB_PASSWORD_FILE) is required}"
export PGDATABASE="${PGDATABASE:-postgres}" PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-5}"

waited=0
until pg_isready -q; do
  waited=$((waited + 1))
  if [ "$waited" -ge "${INIT_WAIT_SECONDS:-60}" ]; then
    echo "init-roles: PostgreSQL at $PGHOST:${PGPORT:-5432} did not accept connections in ${INIT_WAIT_SECONDS:-60}s" >&2
    exit 1
  fi
  sleep 1
done

owns() {  # owns ROLE PASSWORD_VARIABLE DATABASE...: the role, its password, its databases
  role=$1 password_variable=$2
  shift 2
  for database in "$@"; do
    psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -v password_variable="$password_variable" \
      -v database="$database" -f "$here/roles.sql"
  done
}

owns temporal TEMPORAL_DB_PASSWORD temporal temporal_visibility
owns filings FILINGS_DB_PASSWORD filings
owns keycloak KEYCLOAK_DB_PASSWORD keycloak
# Temporal's visibility schema indexes with btree_gin; created here by the superuser, so the
# schema job (which creates it only when missing) never needs more than database ownership.
psql -X -q -v ON_ERROR_STOP=1 -d temporal_visibility -c 'SET client_min_messages = warning' \
  -c 'CREATE EXTENSION IF NOT EXISTS btree_gin'
echo "init-roles: temporal owns temporal and temporal_visibility; filings owns filings; keycloak owns keycloak"
