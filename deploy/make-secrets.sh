#!/bin/sh
# Creates the compose stack's secrets, once: `deploy/make-secrets.sh [DIR]` (default ./secrets).
#
# Each secret is one file that docker-compose.yml hands to the services that need it
# (`secrets:`), mounted at /run/secrets/<name>; the processes read it from there (see
# deploy/entrypoint.sh). An existing file is never overwritten, so running it again is safe
# and keeps the keys every running filing was encrypted with. To rotate a password, delete
# its file, run this again and recreate the services that use it (docs/compose.md).
#
# Permissions: the directory is the owner's alone (0700), so no other user of this machine
# reaches any secret. The files inside are 0444 because compose bind-mounts a file secret
# with its host owner and mode (compose applies `uid`/`mode` only to swarm secrets) and the
# containers run as other users (10001 for the engine, 1000 for Temporal and Keycloak): a
# 0600 file would be unreadable to them. Each container sees only the secrets declared for it.
set -eu
umask 077

dir=${1:-secrets}
mkdir -p "$dir"
chmod 0700 "$dir"

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
base64_bytes() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
# A keyring as engine/keys.py reads it: the current key id and the keys by id (32 bytes each).
keyring() { printf '{"current": "%s", "keys": {"%s": "%s"}}\n' "$1" "$1" "$(base64_bytes 32)"; }
line() { printf '%s\n' "$1"; }

create() {  # create NAME COMMAND [ARG...]: the file NAME holds the command's output
  name=$1
  shift
  file="$dir/$name"
  if [ -s "$file" ]; then
    echo "kept     $file"
    return
  fi
  "$@" >"$file.new"
  [ -s "$file.new" ] || { echo "make-secrets: could not generate $name" >&2; rm -f "$file.new"; exit 1; }
  chmod 0444 "$file.new"
  mv "$file.new" "$file"
  echo "created  $file"
}

# The engine's keys (SPEC §9): payloads for workers, the filing service and the codec server;
# SMS code digests for workers only.
create payload_keys.json keyring k1
create sms_hmac_keys.json keyring k1
create codec_token line "$(hex 24)"
# PostgreSQL: the superuser (the database and its init job only) and one role per database.
create postgres_password line "$(hex 24)"
create temporal_db_password line "$(hex 24)"
create filings_db_password line "$(hex 24)"
# MinIO: the root account (MinIO and its setup job only) and the engine's own account,
# limited to the materials bucket.
create minio_root_user line "root-$(hex 6)"
create minio_root_password line "$(hex 24)"
create s3_access_key_id line "filings-$(hex 8)"
create s3_secret_access_key line "$(hex 24)"
# Keycloak: its admin console, its database role, the filing service's confidential OIDC
# client (Keycloak and the service), and the Web UI's (Keycloak and the Web UI).
create keycloak_admin_password line "$(hex 16)"
create keycloak_db_password line "$(hex 24)"
create oidc_client_secret line "$(hex 24)"
create temporal_ui_client_secret line "$(hex 24)"
