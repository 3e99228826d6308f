# Helpers to run throw-away PostgreSQL 15 clusters for the demo and the SQL regression suites.
# Sourced, not executed. PostgreSQL refuses to run as root, so as root the server runs as the
# `postgres` OS user (created by the postgresql-15 package).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
SOCKET_DIR=${SOCKET_DIR:-/tmp}

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_cluster DATADIR PORT [VAR=value ...]: initdb if needed, then start with the given
# environment (e.g. RUVECTOR_SIMD=scalar). RUST_BACKTRACE is removed: pgrx would append Rust
# backtraces to the DETAIL of errors raised by PostgreSQL functions it calls.
start_cluster() {
    local dir=$1 port=$2
    shift 2
    if [ ! -f "$dir/PG_VERSION" ]; then
        if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres "$dir"; else mkdir -p "$dir"; fi
        as_pg "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust >/dev/null
    fi
    as_pg env -u RUST_BACKTRACE "$@" "$PG_BIN/pg_ctl" -D "$dir" -w -l "$dir/server.log" \
        -o "-p $port -k $SOCKET_DIR -c listen_addresses=''" start >/dev/null
}

stop_cluster() {
    local dir=$1
    if [ -f "$dir/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    fi
}

# install_extension [cargo pgrx install args...]: builds and installs into Debian's PostgreSQL 15.
install_extension() {
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(--sudo)
    cargo pgrx install --pg-config "$PG_CONFIG" "${sudo[@]}" "$@"
}
