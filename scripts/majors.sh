# The PostgreSQL major versions ruvector is built and tested against: the one list. Sourced by
# setup.sh, test.sh, package.sh and demo.sh; the server tests read the same choice from the
# PG_CONFIG they are given. A major joins by adding it to RUVECTOR_MAJORS and PG_ORIGIN (and its
# Cargo feature, which src/compat.rs reads); README's "Supported PostgreSQL versions" names them.
#
# PG_ORIGIN says where a major comes from on Debian 12:
#   debian      Debian 12's binary packages postgresql-N and postgresql-server-dev-N;
#   source:S    the source package postgresql-N of Debian suite S (fetched with a deb-src line in
#               a private apt list directory; no binary of suite S is ever installed), built once
#               into $RUVECTOR_PG_ROOT/pgN and reused until that directory is removed.
# PostgreSQL 16 and 17 are not listed: their source packages could not be downloaded from the
# package registry these machines reach (17's 404s), and nothing is claimed for them.

RUVECTOR_MAJORS=(15 18)
declare -A PG_ORIGIN=([15]=debian [18]=source:sid)

# The first major is the primary one: the demo runs on it and the test suite runs every kernel
# tier and every server test on it (the other majors run the SQL suites once and the server
# tests that exercise version-specific code: recall, crash recovery, WAL replay).
RUVECTOR_PRIMARY_MAJOR=${RUVECTOR_MAJORS[0]}

# Where source-built majors are installed (one prefix each).
RUVECTOR_PG_ROOT=${RUVECTOR_PG_ROOT:-/opt/ruvector}

# pgvector (for the tests that run beside it or migrate from it): Debian's source package from
# this suite, built against every major.
PGVECTOR_SUITE=trixie

# pg_config of a major.
pg_config_of() {
    case ${PG_ORIGIN[$1]:?"unknown PostgreSQL major $1 (scripts/majors.sh)"} in
        debian) echo "/usr/lib/postgresql/$1/bin/pg_config" ;;
        source:*) echo "$RUVECTOR_PG_ROOT/pg$1/bin/pg_config" ;;
    esac
}
