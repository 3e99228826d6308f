//! `ALTER EXTENSION ruvector UPDATE` from every earlier release.
//!
//! The packages install, beside the current version's script, the frozen install script of
//! every earlier release (`sql/releases/`) and every upgrade script (`sql/ruvector--A--B.sql`).
//! For each earlier release this test installs it, builds the fixture's indexes (every type,
//! both access methods, quantized ones, code pages), updates to the current version, and checks
//! that (a) the indexes built before the update answer exactly as before and take writes, and
//! (b) the extension's member objects — `pg_describe_object` of every `pg_depend` 'e' row,
//! every function's signature and properties, and the whole schema as `pg_dump
//! --binary-upgrade` prints it — equal those of a fresh install of the current version, byte
//! for byte.

use ruvector_server_tests::catalog::{
    extension_members, extension_version, first_difference, function_properties, schema_dump,
};
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::fixture::{self, Data};

/// The releases whose install scripts are frozen in the repository, but `current`.
fn earlier_releases(current: &str) -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/releases");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some(
                name.strip_prefix("ruvector--")?
                    .strip_suffix(".sql")?
                    .to_string(),
            )
        })
        .filter(|v| v != current)
        .collect();
    v.sort();
    v
}

/// The version `CREATE EXTENSION ruvector` installs (the packages' default).
fn current_version(admin: &mut postgres::Client) -> String {
    admin
        .query_one(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'ruvector'",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn update_from_every_release_equals_a_fresh_install() {
    let c = Cluster::new("extension-update", 5540, &[]).unwrap();
    let mut admin = c.connect("postgres").unwrap();
    let current = current_version(&mut admin);
    let releases = earlier_releases(&current);
    assert!(!releases.is_empty(), "no earlier release in sql/releases");
    let available: Vec<String> = admin
        .query(
            "SELECT version FROM pg_available_extension_versions WHERE name = 'ruvector' \
             ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for r in &releases {
        assert!(
            available.contains(r),
            "ruvector {r} is not installable here ({available:?}): install the package \
             (scripts/package.sh), which carries sql/releases/"
        );
    }
    let data = Data::load();

    admin.batch_execute("CREATE DATABASE fresh").unwrap();
    let mut fresh = c.connect("fresh").unwrap();
    fresh.batch_execute("CREATE EXTENSION ruvector").unwrap();
    assert_eq!(extension_version(&mut fresh).unwrap(), current);
    fixture::create(&mut fresh, &data).unwrap();

    for release in &releases {
        let db = format!("from_{}", release.replace('.', "_"));
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let mut old = c.connect(&db).unwrap();
        old.batch_execute(&format!("CREATE EXTENSION ruvector VERSION '{release}'"))
            .unwrap();
        assert_eq!(&extension_version(&mut old).unwrap(), release);
        fixture::create(&mut old, &data).unwrap();
        let before = fixture::answers(&mut old, &data).unwrap();

        old.batch_execute("ALTER EXTENSION ruvector UPDATE")
            .unwrap();
        assert_eq!(extension_version(&mut old).unwrap(), current);
        // A new session, as an application would open after the update.
        drop(old);
        let mut updated = c.connect(&db).unwrap();
        let after = fixture::answers(&mut updated, &data).unwrap();
        fixture::assert_same(&before, &after, &format!("after updating from {release}"));

        assert_eq!(
            extension_members(&mut updated).unwrap(),
            extension_members(&mut fresh).unwrap(),
            "member objects after updating from {release} differ from a fresh {current}"
        );
        assert_eq!(
            function_properties(&mut updated).unwrap(),
            function_properties(&mut fresh).unwrap(),
            "functions after updating from {release} differ from a fresh {current}"
        );
        let (u, f) = (
            schema_dump(&c, &db).unwrap(),
            schema_dump(&c, "fresh").unwrap(),
        );
        assert!(
            u == f,
            "pg_dump --binary-upgrade after updating from {release} differs from a fresh \
             {current}; first difference: {}",
            first_difference(&u, &f)
        );

        fixture::write_and_check(&mut updated, &data).unwrap();
    }

    // With pgvector installed, the update also makes the casts between pgvector's types and
    // ruvector's (src/migrate/casts.rs) and the event triggers that keep them, as a fresh
    // install beside pgvector does.
    admin.batch_execute("CREATE DATABASE fresh_pgv").unwrap();
    let mut fresh_pgv = c.connect("fresh_pgv").unwrap();
    fresh_pgv
        .batch_execute(
            "CREATE SCHEMA pgv; CREATE EXTENSION vector SCHEMA pgv; CREATE EXTENSION ruvector",
        )
        .unwrap();
    let fresh_members = extension_members(&mut fresh_pgv).unwrap();
    let beside = |kind: &str| {
        fresh_members
            .iter()
            .filter(|m| m.starts_with(kind) && m.contains("pgv."))
            .count()
    };
    // 9 casts, 3 of them through functions declared on pgvector's types
    assert_eq!(
        (beside("cast "), beside("function ")),
        (9, 3),
        "casts to and from pgvector's types: {fresh_members:#?}"
    );
    // A function both extensions define, called with an untyped literal while both are on
    // the search_path, resolves (pgvector alone resolves it too) instead of being ambiguous:
    // ruvector is its category's preferred type.
    let norm = |db: &mut postgres::Client, what: &str| {
        db.batch_execute("SET search_path = public, pgv").unwrap();
        let n: f64 = db
            .query_one("SELECT vector_norm('[3,4]')", &[])
            .map(|r| r.get(0))
            .unwrap_or_else(|e| panic!("{what}: vector_norm('[3,4]'): {e}"));
        assert_eq!(n, 5.0, "{what}");
    };
    norm(&mut fresh_pgv, "fresh install beside pgvector");
    for release in &releases {
        let db = format!("pgv_from_{}", release.replace('.', "_"));
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let mut old = c.connect(&db).unwrap();
        old.batch_execute(&format!(
            "CREATE SCHEMA pgv; CREATE EXTENSION vector SCHEMA pgv; \
             CREATE EXTENSION ruvector VERSION '{release}'; ALTER EXTENSION ruvector UPDATE"
        ))
        .unwrap();
        assert_eq!(
            extension_members(&mut old).unwrap(),
            fresh_members,
            "member objects beside pgvector after updating from {release} differ from a fresh \
             {current}"
        );
        let (u, f) = (
            schema_dump(&c, &db).unwrap(),
            schema_dump(&c, "fresh_pgv").unwrap(),
        );
        assert!(
            u == f,
            "pg_dump --binary-upgrade beside pgvector after updating from {release} differs \
             from a fresh {current}; first difference: {}",
            first_difference(&u, &f)
        );
        norm(
            &mut old,
            &format!("beside pgvector, updated from {release}"),
        );
    }
}

/// Objects a user with CREATE on `public` plants there beforehand, each a better match than
/// PostgreSQL's own for a call an install or upgrade script might make unqualified (functions
/// on `name`/`text`, `oid = regnamespace`, `name = text`): an extension script runs as a
/// superuser (for a trusted extension, as the bootstrap superuser), so a planted object it
/// called would run with those rights. Each raises when called.
const PLANTED: &str = "
    CREATE FUNCTION public.format(text, name) RETURNS text LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'planted format(text, name) ran'; END $$;
    CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'planted format(text, text) ran'; END $$;
    CREATE FUNCTION public.planted_eq(oid, regnamespace) RETURNS boolean LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'planted oid = regnamespace ran'; END $$;
    CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regnamespace,
        FUNCTION = public.planted_eq);
    CREATE FUNCTION public.planted_eq(name, text) RETURNS boolean LANGUAGE plpgsql
        AS $$ BEGIN RAISE EXCEPTION 'planted name = text ran'; END $$;
    CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.planted_eq);
";

/// CREATE EXTENSION and ALTER EXTENSION UPDATE from every release into a schema where another
/// user planted shadowing functions and operators: the scripts call none of them.
#[test]
fn scripts_ignore_objects_planted_on_the_search_path() {
    let c = Cluster::new("update-planted", 5525, &[]).unwrap();
    let mut admin = c.connect("postgres").unwrap();
    let current = current_version(&mut admin);
    let releases = earlier_releases(&current);
    admin.batch_execute("CREATE ROLE mallory").unwrap();
    // Database `db`, with PLANTED in its public schema, owned by mallory.
    let plant = |db: &str| {
        let mut su = c.connect(db).unwrap();
        su.batch_execute(&format!(
            "GRANT CREATE ON SCHEMA public TO mallory; SET ROLE mallory; {PLANTED} RESET ROLE"
        ))
        .unwrap();
        su
    };

    admin.batch_execute("CREATE DATABASE fresh").unwrap();
    let mut fresh = plant("fresh");
    fresh
        .batch_execute("CREATE EXTENSION ruvector")
        .unwrap_or_else(|e| panic!("CREATE EXTENSION beside planted objects: {e:?}"));
    assert_eq!(extension_version(&mut fresh).unwrap(), current);

    for release in &releases {
        let db = format!("planted_{}", release.replace('.', "_"));
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
        let mut old = c.connect(&db).unwrap();
        old.batch_execute(&format!("CREATE EXTENSION ruvector VERSION '{release}'"))
            .unwrap();
        drop(old);
        let mut old = plant(&db);
        old.batch_execute("ALTER EXTENSION ruvector UPDATE")
            .unwrap_or_else(|e| panic!("ALTER EXTENSION UPDATE from {release}: {e:?}"));
        assert_eq!(extension_version(&mut old).unwrap(), current);
    }
}
