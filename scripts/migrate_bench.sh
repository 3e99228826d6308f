#!/usr/bin/env bash
# Measures ruvector-migrate on a real embedding set (README, "Migrating from pgvector"): loads
# ../shared/data/DATASET/base.fvecs into a pgvector table with an hnsw cosine index on a scratch
# cluster, then migrates the column online and prints each phase's report.
#
#   scripts/migrate_bench.sh [DATASET]      # glove-100k (50-d) or minilm-384-50k (384-d)
#
# Needs pgvector in the primary major (scripts/setup.sh --pgvector) and ruvector installed there.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh
ds=${1:-glove-100k}
data=../shared/data/$ds/base.fvecs
dir=/tmp/ruvector-migrate-bench
port=5437
[ -r "$data" ] || { echo "$data not found" >&2; exit 1; }
cargo build --release -q -p ruvector-migrate
trap 'stop_cluster "$dir"' EXIT
stop_cluster "$dir"
rm -rf "$dir"
start_cluster "$dir" "$port"
q() { psql -X -q -h "$SOCKET_DIR" -p "$port" -U postgres -d postgres "$@"; }
dim=$(python3 -c "import struct,sys; print(struct.unpack('<i', open(sys.argv[1],'rb').read(4))[0])" "$data")
q -c "CREATE EXTENSION vector; CREATE SCHEMA ruvector; CREATE EXTENSION ruvector SCHEMA ruvector;
      ALTER DATABASE postgres SET search_path = \"\$user\", public, ruvector;
      CREATE TABLE docs (id int PRIMARY KEY, embedding vector($dim))"
python3 - "$data" <<'PY' | q -c "COPY docs FROM STDIN"
import struct, sys
with open(sys.argv[1], "rb") as f:
    i = 0
    while head := f.read(4):
        d = struct.unpack("<i", head)[0]
        v = struct.unpack(f"<{d}f", f.read(4 * d))
        sys.stdout.write(f"{i}\t[{','.join(repr(x) for x in v)}]\n")
        i += 1
PY
echo "==> $ds: $(q -Atc "SELECT count(*) FROM docs") rows of $dim dimensions; building pgvector's hnsw index"
start=$SECONDS
q -c "SET maintenance_work_mem = '1GB'; CREATE INDEX docs_embedding_idx ON docs USING hnsw (embedding vector_cosine_ops); ANALYZE docs"
echo "    built in $((SECONDS - start)) s"
echo "==> ruvector-migrate plan"
target/release/ruvector-migrate --dsn "host=$SOCKET_DIR port=$port user=postgres dbname=postgres" plan
echo "==> ruvector-migrate run docs embedding --tune-recall --maintenance-work-mem 1GB"
start=$SECONDS
target/release/ruvector-migrate --dsn "host=$SOCKET_DIR port=$port user=postgres dbname=postgres" \
    run docs embedding --tune-recall --maintenance-work-mem 1GB
echo "    migrated in $((SECONDS - start)) s"
