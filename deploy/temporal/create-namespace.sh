#!/bin/sh
# One-shot job `temporal-namespace` of docker-compose.yml, on temporalio/admin-tools: waits until the
# Temporal server answers, then registers the namespace the service uses (the plain server image
# creates none; the deprecated auto-setup image used to create `default`). Idempotent.
set -eu
: "${TEMPORAL_ADDRESS:?}"
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-168h}

attempt=1
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  if [ "$attempt" -ge 60 ]; then
    echo "temporal-namespace: no healthy Temporal server at ${TEMPORAL_ADDRESS} after ${attempt} attempts" >&2
    temporal operator cluster health --address "$TEMPORAL_ADDRESS" >&2 || true
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "temporal-namespace: ${NAMESPACE} exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
  echo "temporal-namespace: created ${NAMESPACE} (retention ${RETENTION})"
fi

# The frontend learns of a new namespace within seconds (its namespace cache): wait until it serves
# requests in it, so the services that start next do not meet "namespace not found".
attempt=1
until temporal workflow list --namespace "$NAMESPACE" --limit 1 --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  if [ "$attempt" -ge 60 ]; then
    echo "temporal-namespace: ${NAMESPACE} not served after ${attempt} attempts" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 1
done
echo "temporal-namespace: ${NAMESPACE} ready"
