#!/usr/bin/env bash
# TEST STAND-IN for the official postgres image's entrypoint (see this folder's Dockerfile):
# initialise an empty PGDATA from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, then run
# the server as `postgres`. Arguments: `postgres [server options]` (or only the options).
set -euo pipefail

if [ "${1:-}" = postgres ]; then
    shift
fi

POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}

if [ "$(id -u)" = 0 ]; then
    # A fresh named volume belongs to root.
    install -d -o postgres -g postgres -m 0700 "$PGDATA"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "POSTGRES_PASSWORD is required (the official image refuses to start without it)" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    chown postgres "$pwfile" 2>/dev/null || true
    as_postgres initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
        -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    # Every address may connect with the password (the official image's rule); where the
    # server listens is compose's business (listen_addresses).
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    # The database, created on a private socket-only server before the real one starts.
    as_postgres pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        as_postgres psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
            -c "CREATE DATABASE \"${POSTGRES_DB//\"/\"\"}\"" >/dev/null
    fi
    as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "initialised $PGDATA for $POSTGRES_USER (database $POSTGRES_DB)"
fi

exec_as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    fi
    exec "$@"
}

# Later `-c` options (compose's command) win over these.
exec_as_postgres postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
