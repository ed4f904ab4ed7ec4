#!/bin/sh
# One-shot job (temporalio/admin-tools, or any shell with the `temporal` CLI): the filing
# namespace and the SPEC §7 search attributes. Idempotent: an existing namespace and
# existing attributes of the same type are kept; an attribute that exists with another
# type fails the job (the workflow would not be able to set it).
# Reads TEMPORAL_ADDRESS (and TLS / API key variables) like every `temporal` command.
set -eu
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-30d}"

retry() {  # retry "what" command...: the server may still be starting, a new namespace propagating
  what=$1; shift; tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "gave up: $what" >&2; exit 1; }
    sleep 1
  done
}

retry "Temporal at ${TEMPORAL_ADDRESS:-127.0.0.1:7233} is not serving" temporal operator cluster health
temporal operator namespace describe -n "$NAMESPACE" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION"
retry "search attributes on $NAMESPACE" temporal operator search-attribute create -n "$NAMESPACE" \
  --name FilingStage --type Keyword \
  --name FilingKind --type Keyword \
  --name Province --type Keyword \
  --name AppId --type Keyword \
  --name SlaBreached --type Bool \
  --name DeadlineProvisional --type Bool \
  --name StageDeadline --type Datetime \
  --name FilingAttempt --type Int
echo "namespace $NAMESPACE has the filing search attributes"
