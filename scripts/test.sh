#!/usr/bin/env bash
# The whole test suite, from a fresh machine (README's test command; CI runs it via .ci/run):
#   1. toolchain (scripts/setup.sh: apt packages, cargo-pgrx, cargo pgrx init) if missing;
#   2. `cargo pgrx test pg15`: the pure-Rust unit, property and kernel tests and the in-server
#      #[pg_test]s (binary COPY round trips, float output vs float4out, exact top-k on GloVe);
#   3. the SQL regression suites in pgrx-tests/ (pg_regress, exact expected output) against the
#      installed extension in a scratch cluster, once per distance-kernel tier this CPU has
#      (RUVECTOR_SIMD=avx512/avx2/neon/scalar), so SIMD and scalar paths give the same answers;
#   4. the benchmark tool's unit tests and the whole-server tests in server-tests/ (each starts
#      its own clusters): ruhnsw recall gates on GloVe for every build path, kill -9 recovery, a
#      streaming standby, pgbench concurrency, progress, cancel, filtered iterative scans, and
#      the benchmark tool end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
./scripts/setup.sh
source scripts/cluster.sh

PGRX_TEST_PGDATA=${PGRX_TEST_PGDATA:-/tmp/ruvector-pgrx-test}
REGRESS_DIR=${REGRESS_DIR:-/tmp/ruvector-regress}
REGRESS_PORT=${REGRESS_PORT:-5434}
PG_REGRESS=$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress

echo "==> [1/4] cargo pgrx test pg15"
cargo pgrx test pg15 --runas postgres --pgdata "$PGRX_TEST_PGDATA"

echo "==> [2/4] install the extension"
install_extension

echo "==> [3/4] SQL regression suites (pgrx-tests/)"
trap 'stop_cluster "$REGRESS_DIR"' EXIT
stop_cluster "$REGRESS_DIR"
rm -rf "$REGRESS_DIR"
start_cluster "$REGRESS_DIR" "$REGRESS_PORT"
psql_q() { psql -X -q -A -t -h "$SOCKET_DIR" -p "$REGRESS_PORT" -U postgres -d postgres "$@"; }
psql_q -c "CREATE EXTENSION ruvector"
tiers=$(psql_q -c "SELECT split_part(split_part(ruvector_simd_info(), ';', 3), '=', 2)")
psql_q -c "DROP EXTENSION ruvector"
stop_cluster "$REGRESS_DIR"

failed=()
for tier in ${tiers//,/ }; do
    start_cluster "$REGRESS_DIR" "$REGRESS_PORT" RUVECTOR_SIMD="$tier"
    active=$(psql_q -c "CREATE EXTENSION IF NOT EXISTS ruvector; SELECT split_part(ruvector_simd_info(), ';', 1)" | tail -n 1)
    psql_q -c "DROP EXTENSION ruvector"
    if [ "$active" != "tier=$tier" ]; then
        echo "RUVECTOR_SIMD=$tier ran with $active" >&2
        failed+=("$tier(dispatch)")
    fi
    out="$ROOT/target/regress/$tier"
    rm -rf "$out" && mkdir -p "$out"
    echo "--- kernel tier: $tier"
    if ! "$PG_REGRESS" --inputdir="$ROOT/pgrx-tests" --outputdir="$out" \
        --bindir="$PG_BIN" --host="$SOCKET_DIR" --port="$REGRESS_PORT" --user=postgres \
        --dbname=ruvector_regression --load-extension=ruvector \
        --schedule="$ROOT/pgrx-tests/schedule"; then
        failed+=("$tier")
        cat "$out/regression.diffs" || true
    fi
    stop_cluster "$REGRESS_DIR"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: SQL regression suites for kernel tier(s): ${failed[*]}" >&2
    exit 1
fi

echo "==> [4/4] benchmark tool and whole-server tests (server-tests/)"
cargo test -p ruvector-bench
# One test at a time: each starts its own cluster and the machine has few cores.
cargo test -p ruvector-server-tests -- --test-threads=1
echo "==> all tests passed (kernel tiers: $tiers)"
