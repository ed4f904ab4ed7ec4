#!/bin/sh
# Refreshes requirements.lock, the image's exact dependencies with their hashes, from
# pyproject.toml's runtime dependencies (not the `local` or `test` extras) and
# deploy/build-requirements.in:
#
#   deploy/refresh-lock.sh              # after changing pyproject.toml: keeps existing pins
#   deploy/refresh-lock.sh --upgrade    # every package to its newest allowed version
#
# It needs `uv` (https://docs.astral.sh/uv/); when none is on PATH it installs one into a
# throwaway virtual environment under ${TMPDIR:-/tmp}, never into the project's .venv.
# Only wheels are locked (the slim image has no compiler), for every platform (`--universal`)
# of Python 3.11, the image's Python.
set -eu
cd "$(dirname "$0")/.."

uv=${UV:-uv}
if ! command -v "$uv" >/dev/null 2>&1; then
  tools="${TMPDIR:-/tmp}/icp-filings-lock-tools"
  [ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install --quiet uv; }
  uv="$tools/bin/uv"
fi

"$uv" pip compile pyproject.toml deploy/build-requirements.in \
  --universal --python-version 3.11 --only-binary :all: --generate-hashes \
  --custom-compile-command "deploy/refresh-lock.sh" \
  --quiet --output-file requirements.lock "$@"
