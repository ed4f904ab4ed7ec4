#!/bin/sh
# One-shot job (temporalio/admin-tools): bring Temporal's two PostgreSQL schemas up to date,
# as the `temporal` role that owns both databases (deploy/postgres/init-roles.sh creates
# them; this job never needs the superuser). Idempotent, as the official setup scripts
# (temporalio/samples-server compose/scripts/setup-postgres.sh): a schema already set up is
# left, only newer versions are applied, so it runs on every `docker compose up` and after
# an image upgrade.
#
# Reads POSTGRES_SEEDS, DB_PORT, POSTGRES_USER and SQL_PASSWORD (from SQL_PASSWORD_FILE via
# deploy/entrypoint.sh), the variables temporal-sql-tool itself reads.
set -eu
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required (the PostgreSQL host)}"
: "${POSTGRES_USER:?POSTGRES_USER is required (the role owning Temporal's databases)}"
: "${SQL_PASSWORD:?SQL_PASSWORD (or SQL_PASSWORD_FILE) is required}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA=/etc/temporal/schema/postgresql/v12

tries=0
until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not open" >&2; exit 1; }
  sleep 1
done

sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"; }
sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema --schema-dir "$SCHEMA/temporal/versioned"
sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema --schema-dir "$SCHEMA/visibility/versioned"
echo "Temporal schema is up to date"
