#!/usr/bin/env bash
# Sharded kNN over postgres_fdw on one machine, to try README's "Shards over postgres_fdw": N
# shard clusters (default 3) and a coordinator, all of the PostgreSQL major scripts/cluster.sh
# selects (RUVECTOR_MAJOR, default the primary one of scripts/majors.sh), with ruvector already
# installed there (scripts/demo.sh or `cargo pgrx install` does that; nothing is built here).
#
# Each shard holds `items (id int PRIMARY KEY, embedding ruvector(D))` with its own ruhnsw index
# (cosine). The coordinator has postgres_fdw and ruvector, one server per shard (`extensions
# 'ruvector'` so the operators are pushed down, `async_capable 'true'` so the shards search at
# the same time), the foreign tables `shard_1` .. `shard_N`, and `items`, a table partitioned by
# HASH (id) whose partitions are those foreign tables: rows are loaded through it (routed to the
# shards), and it serves lookups by id. kNN goes through the query shape that runs each shard's
# index scan with its own LIMIT (a UNION ALL of per-shard ORDER BY ... LIMIT k, ordered again on
# the coordinator; in a MATERIALIZED CTE, so that its scans are Async Foreign Scans), written to
# $FDW_DIR/knn.sql as the prepared statement `knn(ruvector, int)`.
#
#   scripts/fdw_shards.sh start [N]   create (or recreate) and start, load, index, show a query
#   scripts/fdw_shards.sh stop        stop every cluster (the data stays in $FDW_DIR)
#
# Environment: FDW_DIR (default /tmp/ruvector-fdw-pg$PG_MAJOR), FDW_PORT (the coordinator's,
# default 5440; shard i listens on FDW_PORT + i), ROWS (default 30000), DATA (GloVe base.fvecs,
# default ../shared/data/glove-100k; random 50-d vectors if absent or without python3),
# EF_SEARCH (ruvector.ef_search of the shards' sessions, given with the servers' `options`;
# default: the shards' own default).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

FDW_DIR=${FDW_DIR:-/tmp/ruvector-fdw-pg$PG_MAJOR}
FDW_PORT=${FDW_PORT:-5440}
ROWS=${ROWS:-30000}
DATA=${DATA:-$PWD/../shared/data/glove-100k/base.fvecs}
EF_SEARCH=${EF_SEARCH:-}
STATE=$FDW_DIR/shards # how many shards the running topology has

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 1
}

psql_at() {
    local port=$1
    shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$port" -U postgres -d postgres "$@"
}

stop_all() {
    local n i
    n=$(cat "$STATE" 2>/dev/null || echo 0)
    stop_cluster "$FDW_DIR/coordinator"
    for ((i = 1; i <= n; i++)); do stop_cluster "$FDW_DIR/shard$i"; done
    echo "stopped the coordinator and $n shards ($FDW_DIR)"
}

case ${1:-} in
stop)
    stop_all
    exit 0
    ;;
start) ;;
*) usage ;;
esac

N=${2:-3}
[[ $N =~ ^[1-9][0-9]?$ ]] || { echo "N must be a number of shards, 1..99" >&2; exit 1; }
share=$("$PG_CONFIG" --sharedir)
for ext in ruvector postgres_fdw; do
    if [ ! -f "$share/extension/$ext.control" ]; then
        echo "$ext is not installed into PostgreSQL $PG_MAJOR ($share/extension): install" \
            "ruvector first (scripts/demo.sh, or cargo pgrx install --pg-config $PG_CONFIG)" >&2
        exit 1
    fi
done

# A fresh topology: stop and remove what a previous start left (only a directory this script
# made: one holding its state file, or an empty one).
if [ -d "$FDW_DIR" ] && [ ! -f "$STATE" ] && [ -n "$(ls -A "$FDW_DIR")" ]; then
    echo "$FDW_DIR exists and was not made by this script: choose another FDW_DIR" >&2
    exit 1
fi
stop_all >/dev/null
rm -rf "$FDW_DIR"
if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres "$FDW_DIR"; else mkdir -p "$FDW_DIR"; fi
echo "$N" >"$STATE"

# Vectors as COPY text rows "id<TAB>[x,...]": GloVe if present (and python3 to read it),
# random ones otherwise.
glove=false
if [ -r "$DATA" ] && command -v python3 >/dev/null; then glove=true; fi
glove_rows() { python3 scripts/fvecs_rows.py "$DATA" "$ROWS"; }
DIM=50
if $glove; then
    DIM=$(python3 scripts/fvecs_rows.py "$DATA" --dim)
    echo "==> $ROWS GloVe vectors ($DIM-d) from $DATA over $N shards"
else
    echo "==> $DATA not found (or no python3): $ROWS random $DIM-d vectors over $N shards"
fi

for ((i = 1; i <= N; i++)); do
    port=$((FDW_PORT + i))
    echo "==> shard $i: $FDW_DIR/shard$i, port $port"
    start_cluster "$FDW_DIR/shard$i" "$port"
    psql_at "$port" -c "CREATE EXTENSION ruvector" \
        -c "CREATE TABLE items (id int PRIMARY KEY, embedding ruvector($DIM))"
done

echo "==> coordinator: $FDW_DIR/coordinator, port $FDW_PORT"
start_cluster "$FDW_DIR/coordinator" "$FDW_PORT"
{
    echo "CREATE EXTENSION postgres_fdw;"
    echo "CREATE EXTENSION ruvector;"
    echo "CREATE TABLE items (id int NOT NULL, embedding ruvector($DIM)) PARTITION BY HASH (id);"
    options=""
    [ -z "$EF_SEARCH" ] || options=", options '-c ruvector.ef_search=$EF_SEARCH'"
    for ((i = 1; i <= N; i++)); do
        cat <<SQL
CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$SOCKET_DIR', port '$((FDW_PORT + i))', dbname 'postgres',
             extensions 'ruvector', async_capable 'true', batch_size '1000'$options);
CREATE USER MAPPING FOR postgres SERVER shard$i OPTIONS (user 'postgres');
CREATE FOREIGN TABLE shard_$i (id int NOT NULL, embedding ruvector($DIM))
    SERVER shard$i OPTIONS (table_name 'items');
ALTER TABLE items ATTACH PARTITION shard_$i FOR VALUES WITH (MODULUS $N, REMAINDER $((i - 1)));
SQL
    done
} | psql_at "$FDW_PORT"

# Load through the coordinator: COPY into a local staging table, then one INSERT ... SELECT into
# the partitioned table, which routes every row to its shard in batches of batch_size.
echo "==> loading $ROWS rows through the coordinator's partitioned table"
psql_at "$FDW_PORT" -c "CREATE UNLOGGED TABLE items_load (id int, embedding ruvector($DIM))"
if $glove; then
    glove_rows | psql_at "$FDW_PORT" -c "COPY items_load FROM STDIN"
else
    psql_at "$FDW_PORT" -c "INSERT INTO items_load
        SELECT i, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, $DIM) WHERE i >= 0)::ruvector
        FROM generate_series(0, $ROWS - 1) i"
fi
psql_at "$FDW_PORT" -c "INSERT INTO items SELECT id, embedding FROM items_load" \
    -c "DROP TABLE items_load"

echo "==> building each shard's ruhnsw index (in parallel)"
pids=()
for ((i = 1; i <= N; i++)); do
    psql_at "$((FDW_PORT + i))" -c "SET maintenance_work_mem = '256MB'" \
        -c "CREATE INDEX items_embedding_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)" \
        -c "ANALYZE items" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
psql_at "$FDW_PORT" -c "ANALYZE items"

# The documented kNN shape as a prepared statement: every shard's own ORDER BY ... LIMIT $2
# (pushed down to it whole: its index scan), merged by the ORDER BY ... LIMIT $2 outside. The
# MATERIALIZED CTE makes the UNION ALL an Append (not a Merge Append), whose foreign scans run
# asynchronously: all shards search at the same time.
{
    echo "-- kNN over the $N shards: EXECUTE knn(query_vector, k)."
    echo "PREPARE knn(ruvector, int) AS"
    echo "WITH s AS MATERIALIZED ("
    for ((i = 1; i <= N; i++)); do
        [ "$i" = 1 ] && sep="    " || sep="    UNION ALL "
        echo "${sep}(SELECT id, embedding <=> \$1 AS distance FROM shard_$i ORDER BY embedding <=> \$1 LIMIT \$2)"
    done
    echo ") SELECT id, distance FROM s ORDER BY distance LIMIT \$2;"
} >"$FDW_DIR/knn.sql"
chmod a+r "$FDW_DIR/knn.sql"

echo "==> rows per shard"
psql_at "$FDW_PORT" -c "SELECT tableoid::regclass AS shard, count(*) AS rows FROM items GROUP BY 1 ORDER BY 1"
echo "==> the 5 nearest neighbours (cosine) of item 42 over all shards, and the plan"
# (the query vector's literal shortened to '[...]' in the plan)
psql_at "$FDW_PORT" <<SQL | sed -E "s/'\[[^]]*\]'/'[...]'/g"
\\i $FDW_DIR/knn.sql
SELECT embedding AS q FROM items WHERE id = 42 \\gset
\\pset tuples_only on
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE knn(:'q', 5);
\\pset tuples_only off
\\timing on
EXECUTE knn(:'q', 5);
SQL

cat <<EOF

The coordinator and $N shards are running. Connect to the coordinator with:
    psql -h $SOCKET_DIR -p $FDW_PORT -U postgres postgres
and search all shards with the prepared statement in $FDW_DIR/knn.sql:
    \\i $FDW_DIR/knn.sql
    SELECT embedding AS q FROM items WHERE id = 42 \\gset
    EXECUTE knn(:'q', 10);
Each shard answers with its own index scan and LIMIT, all at once (Async Foreign Scan); the
coordinator sorts the N x k rows. (The same ORDER BY ... LIMIT over the partitioned table
\`items\` pushes the ORDER BY to each shard but not the LIMIT, and with use_remote_estimate
fetches every row.) The shards search with ruvector.ef_search ${EF_SEARCH:-40, their default}:
SET on the coordinator does not reach them; a server option does (at the next query):
    ALTER SERVER shard1 OPTIONS (ADD options '-c ruvector.ef_search=200');  -- SET if present
Stop everything with:
    scripts/fdw_shards.sh stop
EOF
