//! Soak: on each kind of index (ruhnsw and ruivfflat, plain and sq8, all with a key column),
//! 8 pgbench clients insert, update vectors, update keys, delete, search with and without a
//! filter, VACUUM, check the index (`ruvector_index_check`, which must find nothing while the
//! others write) and maintain it (`ruvector_index_maintenance`) at once. No transaction may
//! fail and no backend crash; at the end the index checks clean with every row found, and the
//! rows it returns — all of them, and each tenant's through the key column — are exactly the
//! table's.
//!
//! `RUVECTOR_SOAK_SECONDS` sets the pgbench time per kind (30 in the test command; the
//! 30-minute soak is 450).

use postgres::Client;
use ruvector_bench::dataset::Metric;
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, glove};
use ruvector_server_tests::{assert_index_healthy, pgbench_mix};
use std::collections::BTreeSet;

const TENANTS: i32 = 50;

/// An index kind: its name, its definition and the settings that make its scans reach every
/// row (iterative scans; all lists).
struct Kind {
    name: &'static str,
    index: &'static str,
    scan: &'static str,
    whole: &'static str,
}

const HNSW_SCAN: &str = "SET ruvector.hnsw_iterative_scan = relaxed_order;";
const HNSW_WHOLE: &str = "SET ruvector.hnsw_iterative_scan = relaxed_order; \
     SET ruvector.hnsw_max_scan_tuples = 100000000; SET work_mem = '256MB';";
const IVF_SCAN: &str =
    "SET ruvector.probes = 4; SET ruvector.ivfflat_iterative_scan = relaxed_order;";
/// Every list (the indexes have 40).
const IVF_WHOLE: &str = "SET ruvector.probes = 40;";

const KINDS: [Kind; 4] = [
    Kind {
        name: "ruhnsw",
        index: "USING ruhnsw (embedding ruvector_cosine_ops, tenant) \
                WITH (m = 8, ef_construction = 32)",
        scan: HNSW_SCAN,
        whole: HNSW_WHOLE,
    },
    Kind {
        name: "ruhnsw sq8",
        index: "USING ruhnsw (embedding ruvector_cosine_ops, tenant) \
                WITH (m = 8, ef_construction = 32, quantization = 'sq8')",
        scan: HNSW_SCAN,
        whole: HNSW_WHOLE,
    },
    Kind {
        name: "ruivfflat",
        index: "USING ruivfflat (embedding ruvector_cosine_ops, tenant) WITH (lists = 40)",
        scan: IVF_SCAN,
        whole: IVF_WHOLE,
    },
    Kind {
        name: "ruivfflat sq8",
        index: "USING ruivfflat (embedding ruvector_cosine_ops, tenant) \
                WITH (lists = 40, quantization = 'sq8')",
        scan: IVF_SCAN,
        whole: IVF_WHOLE,
    },
];

fn seconds() -> u32 {
    std::env::var("RUVECTOR_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn ids(client: &mut Client, sql: &str, q: &[f32]) -> BTreeSet<i64> {
    client
        .query(sql, &[&VectorParam(q)])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn soak(kind: &Kind, port: u16) {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new(
        &format!("soak-{port}"),
        port,
        &["max_connections = 50", "autovacuum_naptime = 5s"],
    )
    .unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE pool (id int4 PRIMARY KEY, embedding ruvector(50));
             CREATE TABLE items (id bigserial PRIMARY KEY, embedding ruvector(50), tenant int4);",
        )
        .unwrap();
    copy_rows(&mut client, "pool", &ds, 0..40_000).unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO items (embedding, tenant)
                 SELECT embedding, id % {TENANTS} FROM pool WHERE id < 20000 ORDER BY id;
             CREATE INDEX items_idx ON items {};
             ANALYZE items, pool",
            kind.index
        ))
        .unwrap();
    let scan = kind.scan;
    let insert = format!(
        "\\set p random(20000, 39999)\n\\set t random(0, {})\n\
         INSERT INTO items (embedding, tenant) SELECT embedding, :t FROM pool WHERE id = :p;\n",
        TENANTS - 1
    );
    let update_vector = "\\set id random(1, 40000)\n\\set p random(0, 39999)\n\
         UPDATE items SET embedding = (SELECT embedding FROM pool WHERE id = :p) WHERE id = :id;\n";
    let update_key = format!(
        "\\set id random(1, 40000)\n\\set t random(0, {})\n\
         UPDATE items SET tenant = :t WHERE id = :id;\n",
        TENANTS - 1
    );
    let delete = "\\set id random(1, 40000)\nDELETE FROM items WHERE id = :id;\n";
    let select = format!(
        "\\set p random(0, 39999)\n{scan}\n\
         SELECT id FROM items ORDER BY embedding <=> (SELECT embedding FROM pool WHERE id = :p) \
         LIMIT 10;\n"
    );
    let select_filtered = format!(
        "\\set p random(0, 39999)\n\\set t random(0, {})\n{scan}\n\
         SELECT id FROM items WHERE tenant = :t \
         ORDER BY embedding <=> (SELECT embedding FROM pool WHERE id = :p) LIMIT 10;\n",
        TENANTS - 1
    );
    pgbench_mix(
        &c,
        "items_idx",
        &[
            ("insert.sql", &insert, 8),
            ("update_vector.sql", update_vector, 3),
            ("update_key.sql", &update_key, 3),
            ("delete.sql", delete, 4),
            ("select.sql", &select, 10),
            ("select_filtered.sql", &select_filtered, 10),
            ("vacuum.sql", "VACUUM items;\n", 1),
        ],
        8,
        seconds(),
    );

    client
        .batch_execute("DELETE FROM items WHERE id = (SELECT min(id) FROM items)")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let report = assert_index_healthy(&mut client, "items_idx");
    println!("{}: after the soak: {}", kind.name, report["checked"]);
    client
        .batch_execute(&format!(
            "SET enable_seqscan = off; SET enable_bitmapscan = off; {}",
            kind.whole
        ))
        .unwrap();
    let table: BTreeSet<i64> = client
        .query("SELECT id FROM items", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let all = ids(
        &mut client,
        "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 100000000",
        ds.queries.row(0),
    );
    assert_eq!(all, table, "{}: index and table disagree", kind.name);
    for t in 0..5 {
        let through_index = ids(
            &mut client,
            &format!(
                "SELECT id FROM items WHERE tenant = {t} ORDER BY embedding <=> $1 LIMIT 100000000"
            ),
            ds.queries.row(t as usize),
        );
        let table: BTreeSet<i64> = client
            .query(&format!("SELECT id FROM items WHERE tenant = {t}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            through_index, table,
            "{}: tenant {t}: index and table disagree",
            kind.name
        );
    }
}

#[test]
fn soak_ruhnsw() {
    soak(&KINDS[0], 5583);
}

#[test]
fn soak_ruhnsw_sq8() {
    soak(&KINDS[1], 5584);
}

#[test]
fn soak_ruivfflat() {
    soak(&KINDS[2], 5585);
}

#[test]
fn soak_ruivfflat_sq8() {
    soak(&KINDS[3], 5586);
}
