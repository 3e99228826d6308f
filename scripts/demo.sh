#!/usr/bin/env bash
# README's demo command: builds and installs ruvector (release) into the local PostgreSQL 15
# (RUVECTOR_MAJOR=18 for PostgreSQL 18, built from source by scripts/setup.sh the first time),
# starts a scratch cluster as the `postgres` user on port 5433, loads a few thousand GloVe vectors
# (from ../shared/data, or generated ones if absent) and runs nearest-neighbour queries with each
# operator, then builds an HNSW index and runs the search through it, printing results and
# timings. The cluster stays up for the benchmark tool (`cargo run --release -p ruvector-bench`).
#
#   scripts/demo.sh          build, install, start, load, query
#   scripts/demo.sh stop     stop the demo cluster
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

DEMO_DIR=${DEMO_DIR:-/tmp/ruvector-demo-pg$PG_MAJOR}
DEMO_PORT=${DEMO_PORT:-5433}
ROWS=${ROWS:-5000}
DATA=${DATA:-$PWD/../shared/data/glove-100k/base.fvecs}

if [ "${1:-}" = stop ]; then
    stop_cluster "$DEMO_DIR"
    echo "demo cluster stopped ($DEMO_DIR)"
    exit 0
fi

./scripts/setup.sh "$PG_MAJOR"
echo "==> building and installing ruvector (release) into PostgreSQL $PG_MAJOR"
install_extension --release

echo "==> starting the demo cluster ($DEMO_DIR, port $DEMO_PORT)"
stop_cluster "$DEMO_DIR" # restart so the server loads the freshly installed library
start_cluster "$DEMO_DIR" "$DEMO_PORT"

psql_demo() { psql -X -q -h "$SOCKET_DIR" -p "$DEMO_PORT" -U postgres "$@"; }
psql_demo -d postgres -c "DROP DATABASE IF EXISTS ruvector_demo" -c "CREATE DATABASE ruvector_demo"
psql_demo -d ruvector_demo -c "CREATE EXTENSION ruvector" \
    -c "CREATE TABLE items (id int PRIMARY KEY, embedding ruvector(50))"

if [ -r "$DATA" ] && command -v python3 >/dev/null; then
    echo "==> loading the first $ROWS GloVe vectors from $DATA"
    python3 scripts/fvecs_rows.py "$DATA" "$ROWS" | psql_demo -d ruvector_demo -c "COPY items FROM STDIN"
else
    echo "==> $DATA not found (or no python3): generating $ROWS random 50-d vectors"
    psql_demo -d ruvector_demo -c "INSERT INTO items
        SELECT i, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, 50) WHERE i > 0)::ruvector
        FROM generate_series(0, $ROWS - 1) i"
fi

psql_demo -d ruvector_demo <<'SQL'
ANALYZE items;
\pset footer off
\echo
\echo '--- ruvector'
SELECT ruvector_version() AS version, split_part(ruvector_simd_info(), ';', 1) AS kernels,
       count(*) AS rows FROM items;
\timing on
\echo
\echo '--- 5 nearest neighbours of item 42 by L2 distance (<->)'
SELECT id, round((embedding <-> q)::numeric, 4) AS l2
FROM items, (SELECT embedding AS q FROM items WHERE id = 42) AS query
ORDER BY embedding <-> q LIMIT 5;
\echo '--- by cosine distance (<=>)'
SELECT id, round((embedding <=> q)::numeric, 4) AS cosine
FROM items, (SELECT embedding AS q FROM items WHERE id = 42) AS query
ORDER BY embedding <=> q LIMIT 5;
\echo '--- by negative inner product (<#>)'
SELECT id, round((embedding <#> q)::numeric, 4) AS neg_inner_product
FROM items, (SELECT embedding AS q FROM items WHERE id = 42) AS query
ORDER BY embedding <#> q LIMIT 5;
\echo '--- by L1 distance (<+>)'
SELECT id, round((embedding <+> q)::numeric, 4) AS l1
FROM items, (SELECT embedding AS q FROM items WHERE id = 42) AS query
ORDER BY embedding <+> q LIMIT 5;
\echo '--- the same search in half precision (halfvec) and on sparse vectors (sparsevec)'
SELECT id, round((embedding::halfvec <=> q::halfvec)::numeric, 4) AS halfvec_cosine
FROM items, (SELECT embedding AS q FROM items WHERE id = 42) AS query
ORDER BY embedding::halfvec <=> q::halfvec LIMIT 5;
SELECT id, round((embedding::sparsevec <-> q::sparsevec)::numeric, 4) AS sparsevec_l2
FROM items, (SELECT embedding AS q FROM items WHERE id = 42) AS query
ORDER BY embedding::sparsevec <-> q::sparsevec LIMIT 5;
\echo '--- binary quantization: Hamming distance (<~>) between sign bits'
SELECT id, binary_quantize(embedding) <~> binary_quantize(q) AS hamming
FROM items, (SELECT embedding AS q FROM items WHERE id = 42) AS query
ORDER BY binary_quantize(embedding) <~> binary_quantize(q), id LIMIT 5;
\echo '--- aggregates: the first 5 dimensions of the centroid'
SELECT subvector(avg(embedding), 1, 5) AS centroid_head FROM items;
\echo '--- an HNSW index (ruhnsw) for cosine distance'
CREATE INDEX items_embedding_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)
    WITH (m = 16, ef_construction = 64);
SELECT s ->> 'elements' AS elements, s ->> 'levels' AS levels, s ->> 'pages' AS pages,
       round((s ->> 'bytes_per_vector')::numeric) AS bytes_per_vector
FROM ruvector_index_stats('items_embedding_idx') s;
\echo '--- the cosine search again, now through the index (ruvector.ef_search = 40)'
EXPLAIN (COSTS OFF)
SELECT id FROM items ORDER BY embedding <=> (SELECT embedding FROM items WHERE id = 42) LIMIT 5;
SELECT id, round((embedding <=> (SELECT embedding FROM items WHERE id = 42))::numeric, 4) AS cosine
FROM items ORDER BY embedding <=> (SELECT embedding FROM items WHERE id = 42) LIMIT 5;
SQL

cat <<EOF

The demo cluster is running. Connect with:
    psql -h $SOCKET_DIR -p $DEMO_PORT -U postgres ruvector_demo
Stop it with:
    scripts/demo.sh stop
EOF
