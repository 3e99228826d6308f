#!/usr/bin/env bash
# The speed benchmark of the README ("Speed against pgvector"): `ruvector-bench --compare
# pgvector` with ruhnsw against pgvector's hnsw (m 16, ef_construction 64, the same
# max_parallel_maintenance_workers), ef_search 10–320, alternating rounds, on three sets —
# glove-100k (50-d), minilm-384-50k (384-d) and minilm-1536-50k, derived from minilm-384-50k by
# `ruvector-bench derive` (bench/README.md says how) — each with one client and with two, and
# the 384-d and 1536-d sets again with ruhnsw's neighbour sketches (`--sketches`); the result
# files (JSON and a recall–QPS chart each) go to $OUT (default docs/bench/speed/; sketches: its
# sketches/; the README's huge-pages run: OUT=docs/bench/speed/huge_pages), and
# the README's tables are printed by scripts/speed_table.py.
#
#   scripts/speed_bench.sh [more ruvector-bench options...]
#
# The server is $URL (default a scratch cluster on port 5499 with ruvector and pgvector
# installed, as in the README's index benchmark). The README's run gives it shared_buffers of
# 4GB and maintenance_work_mem of 2GB, so both extensions' tables and indexes stay in memory:
#   ALTER SYSTEM SET shared_buffers = '4GB'   -- then restart the server
set -euo pipefail
cd "$(dirname "$0")/.."
url=${URL:-"host=/tmp port=5499 user=postgres dbname=postgres"}
out=${OUT:-docs/bench/speed}
rounds=${ROUNDS:-2}
cargo build --release -q -p ruvector-bench
bench="${CARGO_TARGET_DIR:-target}/release/ruvector-bench"
derived=target/bench-data/minilm-1536-50k
if [ ! -f "$derived/gt_cos.ivecs" ]; then
    "$bench" derive --from ../shared/data/minilm-384-50k --dims 1536 --out "$derived"
fi
start=$SECONDS
for ds in ../shared/data/glove-100k ../shared/data/minilm-384-50k "$derived"; do
    for clients in 1 2; do
        "$bench" --url "$url" --dataset "$ds" --sweep 10,20,40,80,160,320 --rounds "$rounds" \
            --clients "$clients" --compare pgvector --out "$out" "$@"
    done
done
# ruhnsw WITH (sketches = on) (64 to 2,000 dimensions: not glove-100k), one client, into
# $out/sketches.
for ds in ../shared/data/minilm-384-50k "$derived"; do
    "$bench" --url "$url" --dataset "$ds" --sweep 10,20,40,80,160,320 --rounds "$rounds" \
        --clients 1 --compare pgvector --sketches --out "$out/sketches" "$@"
done
echo "speed benchmark: $((SECONDS - start)) s"
python3 scripts/speed_table.py "$out"
echo
echo "With sketches (WITH (sketches = on)):"
python3 scripts/speed_table.py "$out/sketches"
