#!/bin/sh
# One-shot job `temporal-schema` of docker-compose.yml, on temporalio/admin-tools: creates Temporal's
# two databases when missing and brings their schemas to this admin-tools release's version (the
# supported replacement for the deprecated auto-setup image). Safe to run at every `docker compose up`:
# an existing database is kept, setup-schema only records version 0.0 on an empty database, and
# update-schema applies only the versions not yet applied (rehearsed twice in a row with 1.31.2's
# temporal-sql-tool against PostgreSQL). Upgrade Temporal by pinning the server and
# admin-tools images to the same new release: this job then migrates before the new server starts.
set -eu
: "${SQL_PLUGIN:?}" "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"

SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

setup() {
  database=$1
  versioned=$2
  echo "temporal-schema: database ${database}"
  # Succeeds when the database exists already (the PostgreSQL plugin ignores that error).
  temporal-sql-tool --db "$database" create-database
  temporal-sql-tool --db "$database" setup-schema -v 0.0
  temporal-sql-tool --db "$database" update-schema -d "${SCHEMA_DIR}/${versioned}/versioned"
}

setup "${TEMPORAL_DB:-temporal}" temporal
setup "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}" visibility
echo "temporal-schema: done"
