#!/bin/sh
# One-shot job (the minio/mc image): the materials bucket (R10) and the engine's own MinIO
# account, limited by filings-materials-policy.json to reading and adding objects in that
# bucket (no deletes: materials are evidence; no other bucket; no admin). The root account
# is used only here. Idempotent: an existing bucket, account or attachment is kept; the
# account gets the password of its secret file again and the policy is rewritten, so edits
# to either take effect on the next `docker compose up`.
#
# Reads MINIO_URL, FILINGS_S3_BUCKET and the secrets under /run/secrets (SECRETS_DIR). Plain
# POSIX shell, `cat` and `mc`: the mc image (UBI micro) has little else.
set -eu
secrets=${SECRETS_DIR:-/run/secrets}
url=${MINIO_URL:-http://minio:9000}
bucket=${FILINGS_S3_BUCKET:-filing-materials}
policy=filings-materials
here=$(cd "$(dirname "$0")" && pwd)

read_secret() { [ -s "$secrets/$1" ] || { echo "setup-bucket: missing secret $1" >&2; exit 66; }; cat "$secrets/$1"; }
root_user=$(read_secret minio_root_user)
root_password=$(read_secret minio_root_password)
access_key=$(read_secret s3_access_key_id)
secret_key=$(read_secret s3_secret_access_key)

# The alias from the environment, not `mc alias set`: no credential on a command line.
export MC_HOST_store="${url%%://*}://${root_user}:${root_password}@${url#*://}"

tries=0
until mc ready store >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "setup-bucket: MinIO at $url is not ready" >&2; exit 1; }
  sleep 1
done

mc mb --ignore-existing "store/$bucket"
mc anonymous set none "store/$bucket"
# The policy names the bucket itself (tests/unit/test_compose.py keeps the two in step).
mc admin policy create store "$policy" "$here/filings-materials-policy.json"
mc admin user add store "$access_key" "$secret_key"
case $(mc admin user info store "$access_key") in
  *"$policy"*) ;;
  *) mc admin policy attach store "$policy" --user "$access_key" ;;
esac
echo "setup-bucket: bucket $bucket ready; the engine's account may read and add its objects"
