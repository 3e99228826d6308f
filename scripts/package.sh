#!/usr/bin/env bash
# Builds ruvector's installable packages, one release build per PostgreSQL major (default: every
# major in scripts/majors.sh; the toolchain must be set up: scripts/setup.sh):
#
#   scripts/package.sh [MAJOR ...]
#
# into target/package/:
#   postgresql-M-ruvector_VERSION_ARCH.deb   Debian's paths (/usr/lib/postgresql/M/lib,
#                                            /usr/share/postgresql/M/extension), Depends:
#                                            postgresql-M; `apt-get install ./FILE.deb`
#   ruvector-VERSION-pgM-ARCH.tar.gz         lib/ruvector.so and extension/ruvector* for any
#                                            PostgreSQL M install: copy lib/* into
#                                            $(pg_config --pkglibdir) and extension/* into
#                                            $(pg_config --sharedir)/extension
# Both hold the library, the control file, the current install script, every upgrade script
# (sql/ruvector--A--B.sql) and the frozen install scripts of earlier releases (sql/releases/),
# so `CREATE EXTENSION ruvector VERSION '0.1.0'` and `ALTER EXTENSION ruvector UPDATE` work.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/majors.sh

# The statements of a pgrx-generated install script, one block per line, sorted.
sql_objects() {
    awk '/<begin connected objects>/ { b = ""; next }
         /<\/end connected objects>/ { print b; next }
         /^--/ { next }
         { b = b $0 "\\n" }' "$1" | sort
}

majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=("${RUVECTOR_MAJORS[@]}")
version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
arch=$(dpkg --print-architecture)
out=$ROOT/target/package
mkdir -p "$out"

for m in "${majors[@]}"; do
    pgc=$(pg_config_of "$m")
    echo "==> release build for PostgreSQL $m ($("$pgc" --version))"
    stage=$out/stage-pg$m
    rm -rf "$stage"
    cargo pgrx package --pg-config "$pgc" --no-default-features --features "pg$m" \
        --out-dir "$stage" >/dev/null
    # `cargo pgrx package` lays the files out under that pg_config's own directories.
    lib=$stage$("$pgc" --pkglibdir)
    ext=$stage$("$pgc" --sharedir)/extension
    [ -f "$lib/ruvector.so" ] && [ -f "$ext/ruvector--$version.sql" ] || {
        echo "cargo pgrx package did not produce ruvector.so and ruvector--$version.sql" >&2
        exit 1
    }
    # A released version's SQL never changes: if $version is frozen in sql/releases/, the build
    # must define exactly the objects frozen there (compared as pgrx's blocks of connected
    # objects, sorted — pgrx does not keep their order stable — without comment lines, which
    # carry source line numbers).
    frozen=sql/releases/ruvector--$version.sql
    if [ -f "$frozen" ] && ! cmp -s <(sql_objects "$frozen") <(sql_objects "$ext/ruvector--$version.sql"); then
        echo "The SQL of ruvector $version, a released version ($frozen), has changed." >&2
        echo "Bump the version in Cargo.toml and write sql/ruvector--$version--NEXT.sql (README, Upgrades)." >&2
        exit 1
    fi
    for f in sql/releases/ruvector--*.sql; do
        [ "$f" = "$frozen" ] || cp "$f" "$ext/"
    done
    # Symbols stay in the dynamic table PostgreSQL looks functions up in; debug info goes.
    strip --strip-unneeded "$lib/ruvector.so"

    # tarball: lib/ + extension/
    name=ruvector-$version-pg$m-$arch
    rm -rf "${out:?}/$name" && mkdir -p "$out/$name/lib" "$out/$name/extension"
    cp "$lib/ruvector.so" "$out/$name/lib/"
    cp "$ext"/ruvector* "$out/$name/extension/"
    tar -C "$out" -czf "$out/$name.tar.gz" --owner=0 --group=0 "$name"
    rm -rf "${out:?}/$name"

    # .deb with Debian's paths for major M. The library needs glibc up to the newest symbol
    # version it references (what dpkg-shlibdeps would compute) and libgcc_s (Rust unwinding).
    pkg=postgresql-$m-ruvector
    root=$out/deb-pg$m
    rm -rf "$root"
    install -d "$root/DEBIAN" "$root/usr/lib/postgresql/$m/lib" \
        "$root/usr/share/postgresql/$m/extension" "$root/usr/share/doc/$pkg"
    install -m 0644 "$lib/ruvector.so" "$root/usr/lib/postgresql/$m/lib/"
    install -m 0644 "$ext"/ruvector* "$root/usr/share/postgresql/$m/extension/"
    printf 'ruvector is released under the PostgreSQL License.\n' >"$root/usr/share/doc/$pkg/copyright"
    glibc=$(objdump -T "$lib/ruvector.so" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
    cat >"$root/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: ruvector developers <noreply@ruvector.invalid>
Depends: postgresql-$m, libc6 (>= $glibc), libgcc-s1
Section: database
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Description: vector similarity search for PostgreSQL $m, compatible with pgvector
 ruvector adds the types ruvector, halfvec and sparsevec, pgvector's distance
 operators and functions, and the index access methods ruhnsw (HNSW) and
 ruivfflat (IVF-Flat) with optional SQ8, PQ and binary quantization.
 Install it in a database with CREATE EXTENSION ruvector.
EOF
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${pkg}_${version}_$arch.deb" >/dev/null
    rm -rf "$root"
    echo "==> $out/${pkg}_${version}_$arch.deb"
    echo "==> $out/$name.tar.gz"
done
