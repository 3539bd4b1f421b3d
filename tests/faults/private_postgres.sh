#!/usr/bin/env bash
# A PostgreSQL server of the fault kit's own, which its tests may stop, restart and cut off
# without disturbing anything else on the machine: a cluster made with initdb in a temporary
# directory, on a free port on 127.0.0.1, trust authentication, run as the `postgres` user when
# started as root (PostgreSQL refuses to run as root).
#
# Usage:  source tests/faults/private_postgres.sh   (then: private_postgres_start; ...; private_postgres_cleanup)
# Exports, once started:
#   KEYWARD_TEST_FAULT_DATABASE_URL  postgres://postgres@127.0.0.1:<port>/postgres
#   KEYWARD_TEST_FAULT_PG_CTL        a script: `ctl stop|start|restart|terminate DB`
#                                    (terminate: pg_terminate_backend on every connection to DB)
# Needs Debian's postgresql server binaries (initdb, pg_ctl).

private_postgres_start() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    [ -n "$bin" ] && [ -x "$bin/initdb" ] || {
        echo "error: no PostgreSQL server binaries (Debian: apt-get install postgresql)" >&2
        return 1
    }
    PRIVATE_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/keyward-faults-pg.XXXXXX")
    chmod 755 "$PRIVATE_PG_DIR"
    local as=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$PRIVATE_PG_DIR"
        as=(runuser -u postgres --)
    fi
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as[@]}" "$bin/initdb" -D "$PRIVATE_PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$PRIVATE_PG_DIR/initdb.log" 2>&1 || {
        cat "$PRIVATE_PG_DIR/initdb.log" >&2
        return 1
    }
    cat >"$PRIVATE_PG_DIR/ctl" <<CTL
#!/usr/bin/env bash
# The fault kit's handle on its private PostgreSQL ($PRIVATE_PG_DIR/data, port $port).
set -euo pipefail
pg() { ${as[*]} "$bin/pg_ctl" -D "$PRIVATE_PG_DIR/data" -l "$PRIVATE_PG_DIR/server.log" "\$@"; }
opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PRIVATE_PG_DIR -c max_connections=200"
case "\${1:-}" in
    start) pg -w -t 60 -o "\$opts" start >/dev/null ;;
    stop) pg -w -t 60 -m fast stop >/dev/null ;;
    restart) pg -w -t 60 -m fast -o "\$opts" restart >/dev/null ;;
    terminate)
        psql "postgres://postgres@127.0.0.1:$port/postgres" -Atqc \\
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '\${2:?database}' AND pid <> pg_backend_pid()" ;;
    *) echo "usage: \$0 stop|start|restart|terminate DB" >&2; exit 2 ;;
esac
CTL
    chmod 755 "$PRIVATE_PG_DIR/ctl"
    "$PRIVATE_PG_DIR/ctl" start || { cat "$PRIVATE_PG_DIR/server.log" >&2; return 1; }
    export KEYWARD_TEST_FAULT_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export KEYWARD_TEST_FAULT_PG_CTL="$PRIVATE_PG_DIR/ctl"
    echo "private PostgreSQL for the fault kit: 127.0.0.1:$port ($PRIVATE_PG_DIR)"
}

private_postgres_cleanup() {
    [ -n "${PRIVATE_PG_DIR:-}" ] || return 0
    "$PRIVATE_PG_DIR/ctl" stop >/dev/null 2>&1 || true
    rm -rf "$PRIVATE_PG_DIR"
}
