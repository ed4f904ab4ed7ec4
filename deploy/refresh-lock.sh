#!/bin/sh
# Refreshes requirements.lock, the image's exact dependencies with their hashes, from
# pyproject.toml's runtime dependencies (not the `local` or `test` extras) and
# deploy/build-requirements.in; then requirements-test.lock, what `make test` installs besides
# (the `test` and `local` extras), resolved against requirements.lock's pins and holding only
# the packages that lock does not, so the tests run on exactly the image's versions:
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

# The image's packages are constraints here and left out of the output (one pin each, in one file).
# shellcheck disable=SC2046
"$uv" pip compile pyproject.toml deploy/build-requirements.in --extra test \
  --constraint requirements.lock \
  $(sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*\)==.*/--no-emit-package \1/p' requirements.lock) \
  --universal --python-version 3.11 --only-binary :all: --generate-hashes \
  --custom-compile-command "deploy/refresh-lock.sh" \
  --quiet --output-file requirements-test.lock "$@"
