//! `pg_upgrade` from the PostgreSQL major under test (`PG_CONFIG`, 15) to a newer one
//! (`PG_CONFIG_NEW`, 18), ruvector installed in both.
//!
//! The old cluster holds the fixture (every type; `ruhnsw` and `ruivfflat` indexes, plain, sq8,
//! pq and binary; an 8,100-dimensional sq8 index with code pages; every table with deletes and
//! VACUUM done). It is upgraded once in copy mode and once, from a copy, with `--link`. Without
//! REINDEX, every index of the upgraded cluster must answer the 100 queries (20 for the
//! 8,100-d table) exactly as before, its extension must be the one a fresh install on the new
//! major has, and inserts, deletes, VACUUM and more queries must work.
//!
//! Database `side` has pgvector beside ruvector (in schema `ruvector`), with the casts between
//! their types (src/migrate/casts.rs): after the upgrade its extension members equal a fresh
//! install beside pgvector on the new major, a pgvector-typed query vector still reaches the
//! ruvector index, and `DROP EXTENSION vector` still takes the casts with it.
//!
//! pg_upgrade needs the same data-checksum setting on both sides: PostgreSQL 18's `initdb`
//! enables checksums by default, 15's does not, so the new cluster is made with
//! `--no-data-checksums`, as PostgreSQL's documentation tells users to. And Debian's 15.20
//! stamps columns with an option 18.6 does not know (`catalog::strip_column_versions`), which
//! is removed from the old cluster first.

use ruvector_server_tests::catalog::{
    extension_members, extension_version, function_properties, strip_column_versions,
};
use ruvector_server_tests::cluster::{Cluster, Install};
use ruvector_server_tests::fixture::{self, Data};

/// Database `side`: pgvector and ruvector, a ruvector table with an index.
fn create_side(c: &Cluster) {
    let mut admin = c.connect("postgres").unwrap();
    admin.batch_execute("CREATE DATABASE side").unwrap();
    let mut side = c.connect("side").unwrap();
    side.batch_execute(&format!(
        "{}
         CREATE TABLE t (id int, e ruvector.ruvector(3));
         INSERT INTO t SELECT i, ARRAY[sin(i), cos(i), i % 7] FROM generate_series(1, 300) i;
         CREATE INDEX t_e ON t USING ruhnsw (e ruvector.ruvector_l2_ops);",
        fixture::BESIDE_PGVECTOR
    ))
    .expect("pgvector must be installed (scripts/setup.sh --pgvector)");
}

/// Top-5 ids through the ruvector index for pgvector-typed query vectors.
fn side_answers(side: &mut postgres::Client) -> Vec<Vec<i32>> {
    side.batch_execute("SET enable_seqscan = off").unwrap();
    (0..10)
        .map(|q| {
            side.query(
                &format!(
                    "SELECT id FROM t ORDER BY e OPERATOR(ruvector.<->) \
                     format('[%s,%s,%s]', cos({q}), sin({q}), {q} % 7)::public.vector LIMIT 5"
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
        })
        .collect()
}

fn checksum_args(install: &Install) -> Vec<&'static str> {
    if install.major >= 18 {
        vec!["--no-data-checksums"]
    } else {
        vec![]
    }
}

#[test]
fn pg_upgrade_copy_and_link_keep_every_index_answering() {
    let old_install = Install::current();
    let new_install = Install::upgrade_target();
    assert!(
        new_install.major > old_install.major,
        "PG_CONFIG_NEW ({}) must be a newer major than PG_CONFIG ({})",
        new_install.major,
        old_install.major
    );
    let data = Data::load();

    let old = Cluster::new("upgrade-old", 5542, &[]).unwrap();
    let mut client = old.with_extension().unwrap();
    fixture::create(&mut client, &data).unwrap();
    let before = fixture::answers(&mut client, &data).unwrap();
    let version = extension_version(&mut client).unwrap();
    // PostgreSQL 15.20 to 18.6 needs this whatever the extensions (see the function).
    strip_column_versions(&mut client).unwrap();
    drop(client);
    create_side(&old);
    let mut side = old.connect("side").unwrap();
    let side_before = side_answers(&mut side);
    strip_column_versions(&mut side).unwrap();
    drop(side);
    old.stop().unwrap();
    let old_copy = old.copy_to("upgrade-old-copy", 5543).unwrap();

    // What a fresh install on the new major looks like.
    let reference = Cluster::create(&new_install, "upgrade-reference", 5544, &[], &[]).unwrap();
    let mut r = reference.with_extension().unwrap();
    let fresh_members = extension_members(&mut r).unwrap();
    let fresh_functions = function_properties(&mut r).unwrap();
    drop(r);
    create_side(&reference);
    let fresh_side_members = extension_members(&mut reference.connect("side").unwrap()).unwrap();
    assert_eq!(
        fresh_side_members
            .iter()
            .filter(|m| m.starts_with("cast from vector ") || m.ends_with(" to vector"))
            .count(),
        4,
        "casts from and to pgvector's vector: {fresh_side_members:#?}"
    );
    drop(reference);

    for (mode, from, port) in [("--copy", &old, 5545), ("--link", &old_copy, 5546)] {
        let name = format!("upgrade-new{}", mode.trim_start_matches('-'));
        let new =
            Cluster::init(&new_install, &name, port, &checksum_args(&new_install), &[]).unwrap();
        new.upgrade_from(from, mode).unwrap();
        new.start().unwrap();
        let mut client = new.connect("postgres").unwrap();
        let major: i32 = client
            .query_one(
                "SELECT current_setting('server_version_num')::int / 10000",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(major as u32, new_install.major);
        assert_eq!(extension_version(&mut client).unwrap(), version);
        assert_eq!(
            extension_members(&mut client).unwrap(),
            fresh_members,
            "{mode}: the upgraded extension's members differ from a fresh install on {}",
            new_install.major
        );
        assert_eq!(
            function_properties(&mut client).unwrap(),
            fresh_functions,
            "{mode}: the upgraded extension's functions differ from a fresh install"
        );
        let after = fixture::answers(&mut client, &data).unwrap();
        fixture::assert_same(&before, &after, &format!("after pg_upgrade {mode}"));
        fixture::write_and_check(&mut client, &data).unwrap();

        let mut side = new.connect("side").unwrap();
        assert_eq!(
            extension_members(&mut side).unwrap(),
            fresh_side_members,
            "{mode}: beside pgvector, the upgraded extension's members differ from a fresh install"
        );
        assert_eq!(
            side_answers(&mut side),
            side_before,
            "{mode}: database side's answers"
        );
        side.batch_execute("DROP EXTENSION vector").unwrap();
        let casts: i64 = side
            .query_one(
                "SELECT count(*) FROM pg_cast WHERE castsource >= 16384 AND castmethod = 'b'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(casts, 0, "{mode}: DROP EXTENSION vector left casts behind");
        assert!(!new.log_contains("PANIC"), "{}", new.log_tail());
    }
}
