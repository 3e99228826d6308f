# Helpers to run throw-away PostgreSQL clusters for the demo and the SQL regression suites.
# Sourced, not executed. PostgreSQL refuses to run as root, so as root the server runs as the
# `postgres` OS user (created by Debian's postgresql-common package).
#
# The clusters run the major chosen by `use_major` (default: $RUVECTOR_MAJOR, else the primary
# major of scripts/majors.sh), which sets PG_MAJOR, PG_CONFIG and PG_BIN.

source "$(dirname "${BASH_SOURCE[0]}")/majors.sh"
SOCKET_DIR=${SOCKET_DIR:-/tmp}

use_major() {
    PG_MAJOR=$1
    PG_CONFIG=$(pg_config_of "$1")
    PG_BIN=$("$PG_CONFIG" --bindir 2>/dev/null || dirname "$PG_CONFIG")
}
use_major "${RUVECTOR_MAJOR:-$RUVECTOR_PRIMARY_MAJOR}"

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

# install_extension [cargo pgrx install args...]: builds and installs into the chosen major.
install_extension() {
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(--sudo)
    cargo pgrx install --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" \
        "${sudo[@]}" "$@"
}
