#!/usr/bin/env bash
# The filtered-search benchmark of the README (bench/README.md documents the mode):
# ruvector-bench --filter all on a dataset, ruvector's index with the filter columns as key
# columns against pgvector, without and with btree indexes on the filter columns (one run
# measures both configuration sets), ef_search 20, 40, 80 and 160, results in docs/bench/filter/.
#
#   scripts/filter_bench.sh [DATASET] [more ruvector-bench options...]
#
# DATASET is a directory under ../shared/data (default glove-100k). The server is $URL (default
# a scratch cluster on port 5499 with ruvector and pgvector installed, as in the README's index
# benchmark); the tool creates its databases rvbench_ruvector and rvbench_pgvector there.
# The README's runs give that server `shared_buffers` of a quarter of the machine's memory
# (PostgreSQL's documented starting point, and pgvector's tuning advice), so that both
# extensions' tables and indexes stay in shared buffers:
#   ALTER SYSTEM SET shared_buffers = '6GB'   -- then restart the server
set -euo pipefail
cd "$(dirname "$0")/.."
ds=${1:-glove-100k}
shift || true
url=${URL:-"host=/tmp port=5499 user=postgres dbname=postgres"}
cargo build --release -q -p ruvector-bench
start=$SECONDS
"${CARGO_TARGET_DIR:-target}/release/ruvector-bench" --url "$url" --dataset "../shared/data/$ds" \
    --filter all --filter-keys --filter-btree --compare pgvector --queries 300 --sweep 20,40,80,160 \
    --out docs/bench/filter "$@"
echo "filtered benchmark of $ds: $((SECONDS - start)) s"
