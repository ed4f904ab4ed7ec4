#!/bin/sh
# One-shot job (temporalio/admin-tools, or any shell with the `temporal` CLI): the filing
# namespace, its retention, and the SPEC §7 search attributes. Idempotent, and it converges:
# a missing namespace is created, an existing one gets NAMESPACE_RETENTION again (so changing
# the variable and running `docker compose up` changes the retention of the running stack),
# existing attributes of the same type are kept; an attribute that exists with another type
# fails the job (the workflow would not be able to set it).
# Reads TEMPORAL_ADDRESS (and TLS / API key variables) like every `temporal` command.
set -eu
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-30d}"

retry() {  # retry "what" command...: the server may still be starting, a new namespace propagating
  what=$1; shift; tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt "${SETUP_TRIES:-60}" ] || { echo "gave up: $what" >&2; exit 1; }
    sleep 1
  done
}

retry "Temporal at ${TEMPORAL_ADDRESS:-127.0.0.1:7233} is not serving" temporal operator cluster health
if temporal operator namespace describe -n "$NAMESPACE" >/dev/null 2>&1; then
  retry "retention $RETENTION on $NAMESPACE" temporal operator namespace update -n "$NAMESPACE" --retention "$RETENTION"
else
  retry "namespace $NAMESPACE" temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION"
fi
retry "search attributes on $NAMESPACE" temporal operator search-attribute create -n "$NAMESPACE" \
  --name FilingStage --type Keyword \
  --name FilingKind --type Keyword \
  --name Province --type Keyword \
  --name AppId --type Keyword \
  --name SlaBreached --type Bool \
  --name DeadlineProvisional --type Bool \
  --name StageDeadline --type Datetime \
  --name FilingAttempt --type Int
echo "namespace $NAMESPACE keeps closed filings $RETENTION and has the filing search attributes"
