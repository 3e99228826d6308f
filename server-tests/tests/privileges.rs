//! The extension is trusted (`ruvector.control`): a role that is not a superuser and has only
//! CREATE on its database installs it into a schema of its own and uses everything — types,
//! operators, both index access methods with quantization and key columns, the statistics,
//! check and maintenance functions — as pgvector's users do. Another role that may not read the
//! tables gets PostgreSQL's own privilege errors, and the functions that take an index refuse it
//! (42501) before they read anything.

use postgres::{Client, NoTls};
use ruvector_server_tests::cluster::Cluster;

fn connect_as(c: &Cluster, user: &str) -> Client {
    Client::connect(
        &format!("host=/tmp port={} user={user} dbname=appdb", c.port),
        NoTls,
    )
    .unwrap()
}

fn sqlstate(r: Result<impl Sized, postgres::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().map_or("none".into(), |c| c.code().to_string()),
    }
}

#[test]
fn a_role_with_create_on_its_database_installs_and_uses_everything() {
    let c = Cluster::new("privileges", 5587, &[]).unwrap();
    let mut admin = c.connect("postgres").unwrap();
    for sql in [
        "CREATE ROLE app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
        "CREATE ROLE stranger LOGIN",
        "CREATE DATABASE appdb",
        "GRANT CREATE ON DATABASE appdb TO app",
    ] {
        admin.batch_execute(sql).unwrap();
    }
    let mut app = connect_as(&c, "app");
    let superuser: bool = app
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(!superuser);
    app.batch_execute(
        "CREATE SCHEMA app;
         SET search_path = app;
         CREATE EXTENSION ruvector SCHEMA app;
         CREATE TABLE items (id int PRIMARY KEY, embedding ruvector(3), h halfvec(3),
                             s sparsevec(5), b bit(8), tenant int);
         INSERT INTO items
             SELECT i, ARRAY[sin(i), cos(i), i % 7]::ruvector, ARRAY[cos(i), sin(i), 1]::halfvec,
                    format('{%s:1,5:2}/5', 1 + i % 4)::sparsevec, (i % 256)::bit(8), i % 5
             FROM generate_series(1, 2000) i;
         CREATE INDEX items_hnsw ON items USING ruhnsw (embedding ruvector_cosine_ops, tenant);
         CREATE INDEX items_hnsw_sq8 ON items USING ruhnsw (h halfvec_l2_ops)
             WITH (quantization = 'sq8');
         CREATE INDEX items_sparse ON items USING ruhnsw (s sparsevec_l2_ops);
         CREATE INDEX items_bits ON items USING ruhnsw (b bit_hamming_ops);
         CREATE INDEX items_ivf ON items USING ruivfflat (embedding ruvector_l2_ops, tenant)
             WITH (lists = 10);",
    )
    .unwrap();
    let n: i64 = app
        .query_one(
            "SELECT count(*) FROM (SELECT id FROM items WHERE tenant = 2
                 ORDER BY embedding <=> '[1,0,0]' LIMIT 10) s",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 10);
    for sql in [
        "SELECT id FROM items ORDER BY h <-> '[1,0,1]' LIMIT 5",
        "SELECT id FROM items ORDER BY s <-> '{1:1,5:2}/5' LIMIT 5",
        "SELECT id FROM items ORDER BY b <~> '10101010' LIMIT 5",
        "SELECT id FROM items ORDER BY embedding <-> '[0,1,2]' LIMIT 5",
        "SELECT avg(embedding), sum(h) FROM items",
        "SELECT ruvector_version(), ruvector_simd_info(), ruvector_memory_stats()",
        "SELECT * FROM ruvector_migration_plan()",
        "VACUUM items",
    ] {
        app.batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for index in [
        "items_hnsw",
        "items_hnsw_sq8",
        "items_sparse",
        "items_bits",
        "items_ivf",
    ] {
        let row = app
            .query_one(
                &format!(
                    "SELECT ruvector_index_stats('{index}') ->> 'access_method',
                            (ruvector_index_check('{index}', true) ->> 'ok')::bool,
                            ruvector_index_maintenance('{index}') ->> 'access_method'"
                ),
                &[],
            )
            .unwrap_or_else(|e| panic!("{index}: {e}"));
        let (am, ok): (String, bool) = (row.get(0), row.get(1));
        assert!(am == "ruhnsw" || am == "ruivfflat", "{index}: {am}");
        assert!(ok, "{index} does not check clean");
    }

    // A role that may not read the table: PostgreSQL refuses the query, ruvector's functions
    // refuse the index (before taking any lock on it).
    let mut stranger = connect_as(&c, "stranger");
    stranger.batch_execute("SET search_path = app").unwrap();
    assert_eq!(
        sqlstate(stranger.query("SELECT id FROM app.items LIMIT 1", &[])),
        "42501"
    );
    app.batch_execute("GRANT USAGE ON SCHEMA app TO stranger")
        .unwrap();
    for f in [
        "ruvector_index_stats('items_hnsw')",
        "ruvector_index_check('items_hnsw')",
        "ruvector_index_maintenance('items_hnsw')",
    ] {
        assert_eq!(
            sqlstate(stranger.query(&format!("SELECT {f}"), &[])),
            "42501",
            "{f}"
        );
    }
    // Reading the table is enough to check the index, not to maintain it.
    app.batch_execute("GRANT SELECT ON items TO stranger")
        .unwrap();
    assert_eq!(
        sqlstate(stranger.query("SELECT ruvector_index_check('items_hnsw', true)", &[])),
        "ok"
    );
    assert_eq!(
        sqlstate(stranger.query("SELECT ruvector_index_maintenance('items_hnsw')", &[])),
        "42501"
    );
    // The owner drops what it created, extension included.
    app.batch_execute(
        "REVOKE ALL ON items FROM stranger; DROP TABLE items; DROP EXTENSION ruvector",
    )
    .unwrap();
}
