#!/usr/bin/env bash
# The whole test suite, from a fresh machine (README's test command; CI runs it via .ci/run), on
# every PostgreSQL major in scripts/majors.sh (15 and 18):
#   1. toolchain: scripts/setup.sh --pgvector (apt packages, PostgreSQL 18 built once from
#      Debian's source package, pgvector built into every major, the pinned Python clients,
#      cargo-pgrx, cargo pgrx init);
#   2. static checks first (fast failure): `cargo fmt --check`, `cargo clippy --workspace
#      --all-targets -D warnings` (and of ruvector-core for aarch64, its NEON kernels); then ruvector-core's unit, property and kernel tests (no
#      PostgreSQL); then per major, `cargo pgrx test pgM`: the glue's unit tests, the fuzz
#      targets' seed corpus replayed with random and mutated inputs (tests/fuzz_corpus.rs), and
#      the in-server #[pg_test]s (binary COPY round trips, float output vs float4out, exact top-k);
#   3. per major, the packages (scripts/package.sh) installed as users install them — the .deb
#      with apt-get into Debian's PostgreSQL (the files `cargo pgrx` installed removed first),
#      the tarball into the source-built one — then CREATE EXTENSION and a kNN query;
#   4. the SQL regression suites in regress/ (pg_regress, exact expected output) against the
#      installed packages: on the primary major once per distance-kernel tier this CPU has
#      (RUVECTOR_SIMD=avx512/avx2/neon/scalar), on the others with the tier chosen at load;
#   5. the benchmark and migration tools' unit tests and the whole-server tests in server-tests/
#      (each starts its own clusters; the migration tests run the ruvector-migrate binary and a
#      psycopg + pgvector-python application), two test binaries at a time: all of them on the
#      primary major, including the tests across majors (pg_upgrade and dump/restore into the
#      next major: PG_CONFIG_NEW); on the other majors the ones that exercise what differs
#      between majors (a recall gate, kill -9 recovery and a standby with
#      wal_consistency_checking for both access methods, format versions, ALTER EXTENSION
#      UPDATE, the Python application, the migration of every kind of column).
# Each step prints its duration; the summary at the end lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/cluster.sh

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

timings=()
step_start=$SECONDS
step() {
    [ -z "${step_name:-}" ] || timings+=("$(printf '%5ds  %s' $((SECONDS - step_start)) "$step_name")")
    step_name=$1
    step_start=$SECONDS
    echo "==> $1"
}
summary() {
    step ""
    printf '%s\n' "${timings[@]}"
}

step "toolchain"
./scripts/setup.sh --pgvector
version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
arch=$(dpkg --print-architecture)

step "cargo fmt --check, cargo clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The NEON kernels compile only for aarch64: type-check and lint them with that target's
# standard library (this x86-64 machine cannot run them).
if command -v rustup >/dev/null && rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
    cargo clippy -p ruvector-core --all-targets --target aarch64-unknown-linux-gnu -- -D warnings
else
    echo "skipped: clippy of ruvector-core for aarch64 (no rustup target aarch64-unknown-linux-gnu)"
fi

step "cargo test -p ruvector-core"
cargo test -p ruvector-core

for m in "${RUVECTOR_MAJORS[@]}"; do
    step "cargo pgrx test pg$m"
    cargo pgrx test "pg$m" --runas postgres --pgdata "/tmp/ruvector-pgrx-test-$m"
done

# smoke_test MAJOR: CREATE EXTENSION from what is installed, and a kNN query through an index.
smoke_test() {
    local dir=/tmp/ruvector-smoke-$1 port=5435 out
    stop_cluster "$dir"
    rm -rf "$dir"
    start_cluster "$dir" "$port"
    out=$(psql -X -q -A -t -h "$SOCKET_DIR" -p "$port" -U postgres -d postgres <<'SQL'
CREATE EXTENSION ruvector;
SELECT ruvector_version();
CREATE TABLE items (id int PRIMARY KEY, embedding ruvector(3));
INSERT INTO items SELECT i, format('[%s,%s,%s]', i, i % 7, i % 3)::ruvector FROM generate_series(1, 1000) i;
CREATE INDEX ON items USING ruhnsw (embedding ruvector_l2_ops);
SET enable_seqscan = off;
SELECT string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY embedding <-> '[500,3,2]' LIMIT 3) t;
SQL
    )
    stop_cluster "$dir"
    rm -rf "$dir"
    if [ "$out" != "$(printf '%s\n%s' "$version" "500,499,501")" ]; then
        echo "PostgreSQL $1: the installed package answered:" >&2
        echo "$out" >&2
        exit 1
    fi
}

for m in "${RUVECTOR_MAJORS[@]}"; do
    step "package for PostgreSQL $m, install it, smoke test"
    ./scripts/package.sh "$m"
    use_major "$m"
    # What `cargo pgrx test` installed goes first, so that only the package provides ruvector.
    as_root rm -f "$("$PG_CONFIG" --pkglibdir)/ruvector.so" "$("$PG_CONFIG" --sharedir)"/extension/ruvector*
    case ${PG_ORIGIN[$m]} in
        debian)
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall \
                "$ROOT/target/package/postgresql-$m-ruvector_${version}_$arch.deb" >/dev/null
            ;;
        *)
            tmp=$(mktemp -d)
            tar -C "$tmp" -xzf "$ROOT/target/package/ruvector-$version-pg$m-$arch.tar.gz"
            as_root cp "$tmp/ruvector-$version-pg$m-$arch"/lib/* "$("$PG_CONFIG" --pkglibdir)/"
            as_root cp "$tmp/ruvector-$version-pg$m-$arch"/extension/* "$("$PG_CONFIG" --sharedir)/extension/"
            rm -rf "$tmp"
            ;;
    esac
    smoke_test "$m"
done

failed=()
failed_diffs=()
tiers_run=()
for m in "${RUVECTOR_MAJORS[@]}"; do
    step "SQL regression suites on PostgreSQL $m"
    use_major "$m"
    regress_dir=/tmp/ruvector-regress-$m
    port=5434
    pg_regress=$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress
    trap 'stop_cluster "$regress_dir"' EXIT
    stop_cluster "$regress_dir"
    rm -rf "$regress_dir"
    start_cluster "$regress_dir" "$port"
    psql_q() { psql -X -q -A -t -h "$SOCKET_DIR" -p "$port" -U postgres -d postgres "$@"; }
    # No autovacuum: an auto-ANALYZE running while a suite VACUUMs holds back the xmin horizon,
    # so the VACUUM frees nothing and a suite checking slot reuse (quantization.sql) fails at
    # random. Set once, read at every restart below.
    psql_q -c "ALTER SYSTEM SET autovacuum = off"
    psql_q -c "CREATE EXTENSION ruvector"
    if [ "$m" = "$RUVECTOR_PRIMARY_MAJOR" ]; then
        tiers=$(psql_q -c "SELECT split_part(split_part(ruvector_simd_info(), ';', 3), '=', 2)")
    else
        tiers=$(psql_q -c "SELECT split_part(split_part(ruvector_simd_info(), ';', 1), '=', 2)")
    fi
    psql_q -c "DROP EXTENSION ruvector"
    stop_cluster "$regress_dir"
    tiers_run+=("pg$m:$tiers")

    for tier in ${tiers//,/ }; do
        start_cluster "$regress_dir" "$port" RUVECTOR_SIMD="$tier"
        active=$(psql_q -c "CREATE EXTENSION IF NOT EXISTS ruvector; SELECT split_part(ruvector_simd_info(), ';', 1)" | tail -n 1)
        psql_q -c "DROP EXTENSION ruvector"
        if [ "$active" != "tier=$tier" ]; then
            echo "RUVECTOR_SIMD=$tier ran with $active" >&2
            failed+=("pg$m/$tier(dispatch)")
        fi
        out="$ROOT/target/regress/pg$m/$tier"
        rm -rf "$out" && mkdir -p "$out"
        echo "--- PostgreSQL $m, kernel tier: $tier"
        if ! "$pg_regress" --inputdir="$ROOT/regress" --outputdir="$out" \
            --bindir="$PG_BIN" --host="$SOCKET_DIR" --port="$port" --user=postgres \
            --dbname=ruvector_regression --load-extension=ruvector \
            --schedule="$ROOT/regress/schedule"; then
            failed+=("pg$m/$tier")
            failed_diffs+=("$out/regression.diffs")
        fi
        stop_cluster "$regress_dir"
    done
done
if [ ${#failed[@]} -gt 0 ]; then
    # The diffs come last, after every tier has run, so that the tail of the output (all a CI
    # report may keep) shows what differed.
    for diffs in "${failed_diffs[@]}"; do
        echo "----- $diffs (first 200 lines)" >&2
        head -n 200 "$diffs" >&2 || true
    done
    # and, last, the files that differed and their first changed lines, in case only the very
    # end of the output is kept
    for diffs in "${failed_diffs[@]}"; do
        grep -E '^(\+\+\+ |[-+][^-+])' "$diffs" | head -n 12 >&2 || true
    done
    echo "FAILED: SQL regression suites for: ${failed[*]} (CPU:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); tiers run: ${tiers_run[*]})" >&2
    exit 1
fi

step "benchmark tool and migration tool unit tests"
cargo test -p ruvector-bench -p ruvector-migrate
# the server tests run the migration tool's binary (server-tests/tests/migrate_online.rs)
cargo build -p ruvector-migrate

# The server tests: every test binary on the primary major (with PG_CONFIG_NEW, the next major,
# for the tests across majors), and on the other majors the tests of what differs between
# majors — a recall gate (build, scan, cost model), WAL replay after kill -9 and on a standby
# checked page by page (wal_consistency_checking) for both access methods, format versions,
# ALTER EXTENSION UPDATE, and Citus (which supports 16–18 only; the test says it is skipped
# where citus is not installed, as on every machine that gets PostgreSQL from the registries). Within a binary tests run one at a time (each starts its own clusters);
# two binaries run at once, longest first: most tests keep one backend busy and the machine has
# two cores. Other majors' clusters get their own directory and ports (RUVECTOR_TEST_PORT_OFFSET).
step "server tests: all on PostgreSQL $RUVECTOR_PRIMARY_MAJOR, what differs on the others"
executables=$(cargo test -p ruvector-server-tests --no-run 2>&1 | grep 'Executable tests/')
exe_of() { sed -n "s|.*Executable tests/$1\.rs (\(.*\))|\1|p" <<<"$executables"; }
next_major=""
for m in "${RUVECTOR_MAJORS[@]}"; do
    [ "$m" = "$RUVECTOR_PRIMARY_MAJOR" ] || { next_major=$m; break; }
done
primary_env="PG_CONFIG=$(pg_config_of "$RUVECTOR_PRIMARY_MAJOR")"
cross_skip=()
if [ -n "$next_major" ]; then
    primary_env+=" PG_CONFIG_NEW=$(pg_config_of "$next_major")"
else
    cross_skip=(--skip pg_upgrade --skip dumps_restore)
fi
jobs_list=()
for t in hnsw_recall migrate_online $(cd server-tests/tests && ls ./*.rs | sed 's|^\./||; s|\.rs$||' | grep -vx 'hnsw_recall\|migrate_online'); do
    jobs_list+=("pg$RUVECTOR_PRIMARY_MAJOR $t:::env $primary_env $(exe_of "$t") --test-threads=1 ${cross_skip[*]}")
done
for m in "${RUVECTOR_MAJORS[@]}"; do
    [ "$m" != "$RUVECTOR_PRIMARY_MAJOR" ] || continue
    env_m="PG_CONFIG=$(pg_config_of "$m") RUVECTOR_TEST_DIR=/tmp/ruvector-server-tests-pg$m RUVECTOR_TEST_PORT_OFFSET=$((m * 10))"
    for spec in "hnsw_recall serial_build_cosine" \
        "hnsw_durability kill9_during_bulk_insert_then_recovery streaming_standby_returns_the_same_results" \
        "ivf_durability kill9_during_bulk_insert_then_recovery streaming_standby_returns_the_same_results" \
        "format_version a_future_format_version_is_refused_everywhere_until_reindex" \
        "extension_update update_from_every_release_equals_a_fresh_install scripts_ignore_objects_planted_on_the_search_path" \
        "pgvector_clients a_pgvector_application_runs_unchanged_on_ruvector_columns" \
        "migrate_online every_kind_of_column_and_index" \
        "citus distributed_tables"; do
        t=${spec%% *}
        jobs_list+=("pg$m $t:::env $env_m $(exe_of "$t") --test-threads=1 --exact ${spec#* }")
    done
done
logs=$ROOT/target/server-tests
rm -rf "$logs" && mkdir -p "$logs"
for job in "${jobs_list[@]}"; do
    label=${job%%:::*}
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 1; done
    (
        start=$SECONDS
        log="$logs/${label// /-}.log"
        bash -c "${job#*:::}" >"$log" 2>&1
        rc=$?
        echo "$rc" >"$log.rc"
        printf '    %-28s %s in %ds\n' "$label" "$([ "$rc" = 0 ] && echo ok || echo FAILED)" $((SECONDS - start))
    ) &
done
wait
server_failed=()
# every job must have left its exit status: one that did not (killed, or never started) fails
for job in "${jobs_list[@]}"; do
    label=${job%%:::*}
    log="$logs/${label// /-}.log"
    if [ ! -f "$log.rc" ] || [ "$(cat "$log.rc")" != 0 ]; then
        server_failed+=("${label// /-}")
        echo "----- $log (exit status: $(cat "$log.rc" 2>/dev/null || echo none))" >&2
        cat "$log" >&2 || true
    fi
done
if [ ${#server_failed[@]} -gt 0 ]; then
    echo "FAILED: server tests ${server_failed[*]} (logs in $logs)" >&2
    exit 1
fi
summary
echo "==> all tests passed on PostgreSQL ${RUVECTOR_MAJORS[*]}"
