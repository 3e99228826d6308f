#!/usr/bin/env bash
# Installs what building and testing ruvector needs on a fresh Debian 12 machine, skipping every
# step that is already done: PostgreSQL 15 with its server headers and client tools (pgbench,
# pg_basebackup), clang (bindgen), sudo (used by `cargo pgrx test --runas postgres`), a TTF font
# for the benchmark tool's charts, cargo-pgrx pinned to the pgrx version in Cargo.toml, and
# `cargo pgrx init` pointed at Debian's PostgreSQL 15 (no download).
# Safe to run repeatedly; sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

need_pkgs=()
for p in postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config sudo fonts-dejavu-core; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "==> apt-get install ${need_pkgs[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    echo "==> cargo install cargo-pgrx $PGRX_VERSION (takes ~8 minutes on 2 cores)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

PGRX_HOME=${PGRX_HOME:-$HOME/.pgrx}
if ! grep -qs "pg15" "$PGRX_HOME/config.toml"; then
    echo "==> cargo pgrx init --pg15 $PG_CONFIG"
    cargo pgrx init --pg15 "$PG_CONFIG"
fi

# The extension files are installed into Debian's PostgreSQL tree; the test and demo clusters run
# as the `postgres` OS user, which must be able to read the project's data sets.
echo "==> toolchain ready: $(cargo pgrx --version), $($PG_CONFIG --version)"
