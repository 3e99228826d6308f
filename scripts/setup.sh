#!/usr/bin/env bash
# Installs what building and testing ruvector needs on a fresh Debian 12 machine, skipping every
# step that is already done (safe to run repeatedly; run by scripts/demo.sh and scripts/test.sh):
#
#   scripts/setup.sh [MAJOR ...] [--pgvector]
#
# * apt packages: clang (bindgen), sudo (`cargo pgrx test --runas postgres`), a TTF font for the
#   benchmark tool's charts, and what building PostgreSQL from source needs;
# * each PostgreSQL major (default: every one in scripts/majors.sh): Debian 12's binary packages
#   (server, headers, pgbench, pg_basebackup), or Debian's source package built once into
#   $RUVECTOR_PG_ROOT/pgN with contrib (pg_upgrade, postgres_fdw, amcheck, ...) — about 12
#   minutes on 2 cores, then reused;
# * with --pgvector: pgvector from Debian's source package, built and installed into each major
#   (the tests that run beside pgvector or migrate from it), and the real clients those tests
#   drive — psycopg 3 and pgvector's Python adapter, pinned in server-tests/python/
#   requirements.txt — in a virtualenv at $RUVECTOR_PG_ROOT/venv;
# * cargo-pgrx pinned to the pgrx version in Cargo.toml, and `cargo pgrx init` for every major
#   prepared so far (no download: it uses the pg_configs above).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/majors.sh

PGRX_VERSION=0.18.1

with_pgvector=0
majors=()
for a in "$@"; do
    case $a in
        --pgvector) with_pgvector=1 ;;
        [0-9]*) majors+=("$a") ;;
        *) echo "usage: scripts/setup.sh [MAJOR ...] [--pgvector]" >&2; exit 2 ;;
    esac
done
[ ${#majors[@]} -gt 0 ] || majors=("${RUVECTOR_MAJORS[@]}")

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- apt packages -------------------------------------------------------------------------------
want=(libclang-dev clang pkg-config sudo fonts-dejavu-core)
for m in "${majors[@]}"; do
    case ${PG_ORIGIN[$m]:?"unknown PostgreSQL major $m (scripts/majors.sh)"} in
        debian) want+=("postgresql-$m" "postgresql-server-dev-$m") ;;
        # Debian's postgresql-15 also creates the `postgres` OS user every cluster runs as.
        source:*) want+=(postgresql-common bison flex libreadline-dev zlib1g-dev libssl-dev
                         liblz4-dev libzstd-dev) ;;
    esac
done
need_pkgs=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "==> apt-get install ${need_pkgs[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# --- Debian source packages ---------------------------------------------------------------------
# fetch_source PACKAGE SUITE DIR: downloads Debian SUITE's source package PACKAGE into DIR. The
# deb-src line lives in a private list directory, so the machine's own apt sources and installed
# packages are untouched; apt checks the files against the suite's signed index.
fetch_source() {
    local pkg=$1 suite=$2 dir=$3
    local state=$RUVECTOR_PG_ROOT/apt/$suite uri
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    as_root mkdir -p "$state/lists/partial" "$dir"
    echo "deb-src ${uri:-http://deb.debian.org/debian} $suite main" | as_root tee "$state/sources.list" >/dev/null
    local opts=(-qq -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$state/lists" -o APT::Sandbox::User=root)
    as_root apt-get "${opts[@]}" update
    (cd "$dir" && as_root apt-get "${opts[@]}" source --download-only "$pkg" >/dev/null)
}

# build_postgres MAJOR: Debian's source package of PostgreSQL MAJOR, configured like a minimal
# Debian build (no ICU: Debian 12's ICU is older than some majors want; lz4, zstd, OpenSSL as
# Debian has them), built with contrib and installed into $RUVECTOR_PG_ROOT/pgMAJOR. A stamp
# file marks a finished install, so an interrupted build is redone, a finished one reused.
build_postgres() {
    local major=$1 suite=${PG_ORIGIN[$1]#source:}
    local prefix=$RUVECTOR_PG_ROOT/pg$major
    [ -f "$prefix/.ruvector-built" ] && return 0
    local src=$RUVECTOR_PG_ROOT/src/postgresql-$major
    echo "==> PostgreSQL $major from Debian's $suite source package into $prefix (~12 min on 2 cores)"
    as_root rm -rf "$src" "$prefix"
    fetch_source "postgresql-$major" "$suite" "$src"
    as_root tar -C "$src" -xf "$(ls "$src"/postgresql-"$major"_*.orig.tar.*)"
    local tree
    tree=$(ls -d "$src"/postgresql-"$major".*/)
    (
        cd "$tree"
        as_root ./configure --prefix="$prefix" --without-icu --with-lz4 --with-zstd \
            --with-openssl >"$src/configure.log" 2>&1
        as_root make -s -j"$(nproc)" world-bin >"$src/make.log" 2>&1
        as_root make -s install-world-bin >"$src/install.log" 2>&1
    ) || { echo "building PostgreSQL $major failed; see $src/*.log" >&2; tail -n 30 "$src"/*.log >&2; exit 1; }
    as_root rm -rf "$tree"
    echo "$($prefix/bin/pg_config --version)" | as_root tee "$prefix/.ruvector-built" >/dev/null
}

for m in "${majors[@]}"; do
    case ${PG_ORIGIN[$m]} in source:*) build_postgres "$m" ;; esac
done

# --- pgvector -----------------------------------------------------------------------------------
# Debian's newest downloadable pgvector source (trixie's 0.8.0; sid's newer one is listed but its
# files 404) predates PostgreSQL 18, which changed two functions it calls: vacuum_delay_point()
# took an argument, and TupleDescData's attrs array became TupleDescAttr(). For majors from 18 on
# the build copy gets exactly those two adaptations (the ones pgvector's 0.8.1 release made);
# nothing else of pgvector is changed.
if [ "$with_pgvector" = 1 ]; then
    pgv_src=$RUVECTOR_PG_ROOT/src/pgvector
    for m in "${majors[@]}"; do
        pgc=$(pg_config_of "$m")
        [ -f "$("$pgc" --sharedir)/extension/vector.control" ] && continue
        if [ ! -f "$pgv_src/Makefile" ]; then
            echo "==> pgvector from Debian's $PGVECTOR_SUITE source package"
            dl=$RUVECTOR_PG_ROOT/src/pgvector-dl
            as_root rm -rf "$dl" "$pgv_src"
            fetch_source pgvector "$PGVECTOR_SUITE" "$dl"
            as_root mkdir -p "$pgv_src"
            as_root tar -C "$pgv_src" --strip-components=1 -xf "$(ls "$dl"/pgvector_*.orig.tar.*)"
        fi
        echo "==> pgvector $(awk -F"'" '/default_version/{print $2}' "$pgv_src/vector.control") into PostgreSQL $m"
        build=$RUVECTOR_PG_ROOT/src/pgvector-pg$m
        as_root rm -rf "$build"
        as_root cp -r "$pgv_src" "$build"
        if [ "$m" -ge 18 ]; then
            as_root sed -i 's/vacuum_delay_point()/vacuum_delay_point(false)/' "$build"/src/*.c
            as_root sed -i 's/buildstate->tupdesc->attrs\[0\]\.atttypid/TupleDescAttr(buildstate->tupdesc, 0)->atttypid/' \
                "$build/src/ivfbuild.c"
        fi
        as_root make -s -C "$build" PG_CONFIG="$pgc" >"$build/build.log" 2>&1 ||
            { tail -n 30 "$build/build.log" >&2; exit 1; }
        as_root make -s -C "$build" install PG_CONFIG="$pgc" >/dev/null
    done
fi

# --- Python clients -----------------------------------------------------------------------------
# Recreated only when requirements.txt changes (its copy in the venv says what it holds).
if [ "$with_pgvector" = 1 ]; then
    venv=$RUVECTOR_PG_ROOT/venv
    req=server-tests/python/requirements.txt
    if ! cmp -s "$req" "$venv/requirements.txt"; then
        echo "==> Python clients ($(grep -v '^#' "$req" | tr '\n' ' ')) into $venv"
        as_root rm -rf "$venv"
        as_root python3 -m venv "$venv"
        as_root "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
        as_root cp "$req" "$venv/requirements.txt"
    fi
fi

# --- cargo-pgrx ---------------------------------------------------------------------------------
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    echo "==> cargo install cargo-pgrx $PGRX_VERSION (takes ~8 minutes on 2 cores)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# `cargo pgrx init` rewrites its whole configuration, so it is given every major prepared so far
# (not only the ones asked for now), and run only when one of them is missing.
PGRX_HOME=${PGRX_HOME:-$HOME/.pgrx}
init_args=()
reinit=0
for m in "${RUVECTOR_MAJORS[@]}"; do
    pgc=$(pg_config_of "$m")
    [ -x "$pgc" ] || continue
    init_args+=("--pg$m" "$pgc")
    grep -qs "^pg$m = \"$pgc\"" "$PGRX_HOME/config.toml" || reinit=1
done
if [ "$reinit" = 1 ]; then
    echo "==> cargo pgrx init ${init_args[*]}"
    cargo pgrx init "${init_args[@]}"
fi

for m in "${majors[@]}"; do
    echo "==> PostgreSQL $m ready: $("$(pg_config_of "$m")" --version)"
done
echo "==> toolchain ready: $(cargo pgrx --version)"
