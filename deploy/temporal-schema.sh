#!/bin/sh
# One-shot job (temporalio/admin-tools image): create Temporal's two PostgreSQL
# databases and migrate them to the schema version shipped with this image.
#
# Safe to run on every `docker compose up`: `create` ignores an existing
# database, `setup-schema -v 0.0` only stamps a database that has no version yet,
# and `update-schema` applies just the missing versions. Upgrading Temporal is
# therefore: bump the admin-tools and server tags together, then `up` again.
#
# Connection settings come from the SQL_* variables temporal-sql-tool reads
# (SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD).
set -eu

: "${SQL_HOST:?set SQL_HOST}" "${SQL_PORT:=5432}" "${SQL_PLUGIN:=postgres12}"
export SQL_HOST SQL_PORT SQL_PLUGIN
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
SCHEMA_ROOT=${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}

# depends_on already waits for pg_isready; this covers a slow first init.
tries=0
until nc -z "$SQL_HOST" "$SQL_PORT"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "PostgreSQL at $SQL_HOST:$SQL_PORT is not reachable" >&2
        exit 1
    fi
    sleep 2
done

migrate() { # migrate <database> <schema subdirectory>
    echo "== $1: schema from $SCHEMA_ROOT/$2"
    temporal-sql-tool --db "$1" create
    temporal-sql-tool --db "$1" setup-schema -v 0.0
    temporal-sql-tool --db "$1" update-schema -d "$SCHEMA_ROOT/$2/versioned"
}

migrate "$DBNAME" temporal
migrate "$VISIBILITY_DBNAME" visibility
echo "Temporal schema is up to date"
