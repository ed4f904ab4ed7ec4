#!/bin/sh
# Container entrypoint: secrets from files into the process environment, then the command.
#
#   entrypoint.sh COMMAND [ARG...]
#
# For every variable NAME_FILE naming a file under SECRETS_DIR (default /run/secrets, where
# compose mounts `secrets:`) it exports NAME with the file's content (trailing newlines
# dropped) and unsets NAME_FILE: the `*_FILE` convention of the official images (postgres,
# minio). A secret so exists only inside the container's processes, never in
# docker-compose.yml, `.env`, `docker inspect` or a shell history. Other `*_FILE` variables
# are left alone: they are settings that name a file (FILINGS_KEYS_FILE, a CA bundle...).
# The command is exec'ed, so it is PID 1 and receives SIGTERM directly. Values are never
# printed.
#
# Used by the engine's image (worker, filing service, codec server, registry migrations) and
# mounted into the Temporal server and admin-tools, PostgreSQL's init job and Keycloak.
set -eu
secrets_dir=${SECRETS_DIR:-/run/secrets}
secrets_dir=${secrets_dir%/}

names=""
while IFS='=' read -r key value; do
  case $key in
    FILINGS_KEYS_FILE) ;;
    *_FILE)
      case $value in "$secrets_dir"/*) ;; *) continue ;; esac
      name=${key%_FILE}
      case $name in '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;; esac
      names="$names $name"
      ;;
  esac
done <<EOF
$(env)
EOF

for name in $names; do
  eval "path=\${${name}_FILE}"
  eval "given=\${${name}+set}"
  if [ -n "$given" ]; then
    echo "entrypoint: both $name and ${name}_FILE are set: give one of them" >&2
    exit 64
  fi
  if [ ! -f "$path" ] || [ ! -r "$path" ]; then
    echo "entrypoint: ${name}_FILE: cannot read $path (declare the secret for this service and create it with deploy/make-secrets.sh)" >&2
    exit 66
  fi
  value=$(cat "$path")
  if [ -z "$value" ]; then
    echo "entrypoint: ${name}_FILE: $path is empty" >&2
    exit 65
  fi
  export "$name=$value"
  unset "${name}_FILE"
done

if [ $# -eq 0 ]; then
  echo "usage: entrypoint.sh COMMAND [ARG...]" >&2
  exit 64
fi
exec "$@"
