#!/bin/sh
# Restore a backup of deploy/backup.sh into a fresh cluster.
#
#   deploy/restore.sh DIR
#
# The cluster is fresh: its roles and empty databases exist (compose: `postgres-init` made
# them on an empty volume), nothing else. Each database of DIR/manifest is checked against its
# SHA-256, must exist and be empty (a database with tables is refused, naming it, before
# anything is restored), and is restored in one transaction as its owner (`--no-owner
# --role=<owner of the database>`), so the roles own their objects as before. Extensions come
# from the cluster's setup (init-roles creates btree_gin as the superuser): the dump's
# `CREATE EXTENSION IF NOT EXISTS` finds them, and it carries no comments (backup.sh dumps
# with --no-comments, which an owner could not restore on an extension). On an error the
# database being restored stays empty and the script stops.
#
# Environment: BACKUP_EXEC (as for backup.sh, e.g. "docker compose exec -T --user postgres postgresql"),
# and libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD for a superuser of the new cluster.
set -eu

[ $# -eq 1 ] || { echo "usage: deploy/restore.sh DIR   (a directory written by deploy/backup.sh)" >&2; exit 2; }
dir=$1
exec_prefix=${BACKUP_EXEC:-}
[ -f "$dir/manifest" ] || { echo "restore: $dir/manifest not found: not a backup of deploy/backup.sh" >&2; exit 1; }

databases=$(sed -n 's/^databases=//p' "$dir/manifest")
[ -n "$databases" ] || { echo "restore: $dir/manifest names no database" >&2; exit 1; }
if ! (cd "$dir" && sed -n 's/^sha256 //p' manifest | sha256sum --check --quiet --strict -); then
  echo "restore: $dir: a dump does not match its SHA-256 in the manifest; nothing restored" >&2
  exit 1
fi

query() {  # query DATABASE SQL: one value
  $exec_prefix psql -X -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# Every check first: nothing is restored unless every database is there and empty.
for database in $databases; do
  owner=$(query postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$database'")
  if [ -z "$owner" ]; then
    echo "restore: database $database does not exist; create the roles and databases first (compose: postgres-init)" >&2
    exit 1
  fi
  tables=$(query "$database" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                               WHERE c.relkind IN ('r', 'p', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                                 AND n.nspname NOT LIKE 'pg_toast%'")
  if [ "$tables" != 0 ]; then
    echo "restore: database $database is not empty ($tables tables or sequences); restore only into a fresh cluster" >&2
    exit 1
  fi
done

for database in $databases; do
  owner=$(query postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$database'")
  echo "restore: $database as $owner"
  $exec_prefix pg_restore --exit-on-error --single-transaction --no-owner --role="$owner" \
    --dbname="$database" < "$dir/$database.dump"
done
echo "restore: $databases restored from $dir ($(sed -n 's/^taken_at=//p' "$dir/manifest"))"
