#!/bin/sh
# Back up Temporal's databases and the registry together, at one point in time.
#
#   deploy/backup.sh DIR
#
# Writes DIR/<database>.dump (pg_dump's custom format) for each of BACKUP_DATABASES and
# DIR/manifest (when, the server's version, the databases, their SHA-256), owner-only: the
# dumps hold filings' (encrypted) histories and the registry's people on record (sealed).
# Restore them with deploy/restore.sh into a fresh cluster (docs/compose.md, "Backups").
#
# One point in time: pg_dump gives each database its own consistent snapshot, but a
# snapshot cannot be shared across databases (PostgreSQL refuses `SET TRANSACTION SNAPSHOT`
# from another database, even in the same cluster), so the writers are paused instead:
# BACKUP_PAUSE runs before the first dump and BACKUP_RESUME after the last (also when a
# dump fails). Nothing writes between the dumps, so they are one moment of the stack.
#
# Environment:
#   BACKUP_PAUSE      required: the command that stops every writer (compose: the Temporal
#                     server, the workers and the service), or `none` when they are stopped
#   BACKUP_RESUME     the command that starts them again (default: nothing)
#   BACKUP_DATABASES  default "temporal temporal_visibility filings keycloak"
#   BACKUP_EXEC       a prefix that runs pg_dump/psql where the server is, e.g.
#                     "docker compose exec -T --user postgres postgresql" (default: run them here)
#   PGHOST, PGPORT, PGUSER, PGPASSWORD   libpq's own, for a user that may read every database
set -eu

usage() { echo "usage: deploy/backup.sh DIR   (see the comment at the top)" >&2; exit 2; }
[ $# -eq 1 ] || usage
dir=$1
: "${BACKUP_PAUSE:?BACKUP_PAUSE is required: the command that stops every writer (Temporal server, workers, service), or none if they are stopped}"
databases=${BACKUP_DATABASES:-temporal temporal_visibility filings keycloak}
exec_prefix=${BACKUP_EXEC:-}

if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
  echo "backup: $dir exists and is not empty; give a new directory" >&2
  exit 1
fi
umask 077
mkdir -p "$dir"

paused=no
finish() {
  status=$?
  if [ "$paused" = yes ] && [ -n "${BACKUP_RESUME:-}" ]; then
    echo "backup: resuming the writers"
    sh -c "$BACKUP_RESUME" || { echo "backup: BACKUP_RESUME failed: start the writers by hand" >&2; status=1; }
  fi
  if [ "$status" -ne 0 ]; then
    rm -rf "$dir"
    echo "backup: failed; nothing kept in $dir" >&2
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 1' INT TERM

if [ "$BACKUP_PAUSE" != none ]; then
  echo "backup: pausing the writers"
  paused=yes
  sh -c "$BACKUP_PAUSE"
fi

taken=$(date -u +%Y-%m-%dT%H:%M:%SZ)
version=$($exec_prefix psql -X -A -t -d postgres -c 'SHOW server_version')
for database in $databases; do
  echo "backup: dumping $database"
  # --no-comments: a comment on an extension could only be restored by its owner, the superuser.
  $exec_prefix pg_dump --format=custom --compress=6 --no-comments --dbname="$database" > "$dir/$database.dump"
done

{
  echo "taken_at=$taken"
  echo "server_version=$version"
  echo "databases=$databases"
  (cd "$dir" && for database in $databases; do sha256sum "$database.dump"; done) | sed 's/^/sha256 /'
} > "$dir/manifest"
echo "backup: $dir ($databases) at $taken"
