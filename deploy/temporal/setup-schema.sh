#!/bin/sh
# One-shot job `temporal-schema` of docker-compose.yml, on temporalio/admin-tools: creates Temporal's
# two databases when missing and brings their schemas to this admin-tools release's version (the
# supported replacement for the deprecated auto-setup image). Safe to run at every `docker compose up`:
# an existing database is kept, setup-schema only records version 0.0 on an empty database, and
# update-schema applies only the versions not yet applied. Upgrade Temporal by pinning the server and
# admin-tools images to the same new release: this job then migrates before the new server starts.
set -eu
: "${SQL_PLUGIN:?}" "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"

SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

setup() {
  database=$1
  versioned=$2
  echo "temporal-schema: database ${database}"
  # CREATE DATABASE has no IF NOT EXISTS: an existing database is the expected outcome of a rerun.
  if ! out=$(temporal-sql-tool --db "$database" create-database 2>&1); then
    case "$out" in
      *"already exists"*) echo "temporal-schema: ${database} exists" ;;
      *)
        echo "$out" >&2
        exit 1
        ;;
    esac
  fi
  temporal-sql-tool --db "$database" setup-schema -v 0.0
  temporal-sql-tool --db "$database" update-schema -d "${SCHEMA_DIR}/${versioned}/versioned"
}

setup "${TEMPORAL_DB:-temporal}" temporal
setup "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}" visibility
echo "temporal-schema: done"
