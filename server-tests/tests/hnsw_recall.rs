//! ruhnsw recall@10 on glove-100k (50-d, cosine and L2) against exact ground truth, on every
//! way an index comes to be: serial and parallel in-memory builds, a build that outgrows
//! maintenance_work_mem, an index built empty and filled by inserts, and after deleting 20% +
//! VACUUM + re-inserting. pgvector 0.8.6 on the same data (m 16, ef_construction 64, cosine):
//! 0.911 at ef_search 40, 0.963 at 80, 0.988 at 160 — the gates are at or above those, a
//! little below what ruhnsw measures (see each test's printed figures).

use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{self, copy_rows, create_table, glove, recall};
use ruvector_server_tests::{connect_collecting_notices, gate};

const SETTINGS: &[&str] = &[
    "shared_buffers = 256MB",
    "maintenance_work_mem = 512MB",
    "max_wal_size = 4GB",
    "checkpoint_timeout = 30min",
];

/// pgvector 0.8.6's cosine recall at ef_search 40 / 80 / 160 on this set (see the module doc).
const PGVECTOR_COSINE: [(i64, f64); 3] = [(40, 0.911), (80, 0.963), (160, 0.988)];

/// Checks the recall gates at ef_search 40/80/160 and that 0.99 is reached by raising it.
fn check_gates(
    c: &Cluster,
    table: &str,
    index: &str,
    ds: &Dataset,
    gates: &[(i64, f64)],
    what: &str,
) {
    let conninfo = c.conninfo("postgres");
    for &(ef, min) in gates {
        let r = recall(&conninfo, table, index, ds, ef, ds.queries.len()).unwrap();
        gate(&format!("{what}: recall@10 at ef_search {ef}"), r, min);
    }
    let r = recall(&conninfo, table, index, ds, 400, ds.queries.len()).unwrap();
    gate(&format!("{what}: recall@10 at ef_search 400"), r, 0.99);
}

fn loaded(name: &str, port: u16, ds: &Dataset) -> (Cluster, postgres::Client) {
    let c = Cluster::new(name, port, SETTINGS).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", ds, 0..ds.base.len()).unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    (c, client)
}

#[test]
fn serial_build_cosine() {
    let ds = glove(Metric::Cosine);
    let (c, mut client) = loaded("recall-serial", 5461, &ds);
    client
        .batch_execute(
            "SET max_parallel_maintenance_workers = 0;
             CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)
                 WITH (m = 16, ef_construction = 64)",
        )
        .unwrap();
    check_gates(
        &c,
        "items",
        "items_idx",
        &ds,
        &PGVECTOR_COSINE,
        "serial build, cosine",
    );
}

#[test]
fn parallel_build_cosine_and_l2() {
    let ds = glove(Metric::Cosine);
    let (c, mut client) = loaded("recall-parallel", 5462, &ds);
    client
        .batch_execute(
            "SET max_parallel_maintenance_workers = 2;
             CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)",
        )
        .unwrap();
    check_gates(
        &c,
        "items",
        "items_idx",
        &ds,
        &PGVECTOR_COSINE,
        "parallel build, cosine",
    );

    let ds = glove(Metric::L2);
    client
        .batch_execute(
            "DROP INDEX items_idx;
             SET max_parallel_maintenance_workers = 2;
             CREATE INDEX items_l2_idx ON items USING ruhnsw (embedding ruvector_l2_ops)",
        )
        .unwrap();
    // pgvector 0.8.6, same data and parameters, L2: 0.906 / 0.958 / 0.985 (measured locally
    // with `ruvector-bench --compare pgvector --metric l2`).
    check_gates(
        &c,
        "items",
        "items_l2_idx",
        &ds,
        &[(40, 0.906), (80, 0.958), (160, 0.985)],
        "parallel build, l2",
    );
}

#[test]
fn build_over_maintenance_work_mem() {
    let ds = glove(Metric::Cosine);
    let (c, _) = loaded("recall-overmem", 5463, &ds);
    let (mut client, notices) = connect_collecting_notices(&c.conninfo("postgres")).unwrap();
    client
        .batch_execute(
            "SET maintenance_work_mem = '1MB';
             CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)",
        )
        .unwrap();
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with("ruhnsw graph no longer fits into maintenance_work_mem after")),
        "{notices:?}"
    );
    check_gates(
        &c,
        "items",
        "items_idx",
        &ds,
        &PGVECTOR_COSINE,
        "over-memory build, cosine",
    );
}

#[test]
fn built_empty_then_filled_by_inserts() {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new("recall-inserts", 5464, SETTINGS).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)",
        )
        .unwrap();
    copy_rows(&mut client, "items", &ds, 0..ds.base.len()).unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    check_gates(
        &c,
        "items",
        "items_idx",
        &ds,
        &PGVECTOR_COSINE,
        "inserts into empty index, cosine",
    );
}

#[test]
fn delete_vacuum_reinsert() {
    let ds = glove(Metric::Cosine);
    let (c, mut client) = loaded("recall-vacuum", 5465, &ds);
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)",
        )
        .unwrap();
    let size = |client: &mut postgres::Client| -> i64 {
        client
            .query_one("SELECT pg_relation_size('items_idx')", &[])
            .unwrap()
            .get(0)
    };
    let built = size(&mut client);

    // Delete 20% and vacuum: queries must not return deleted rows, and recall holds against
    // the truth over the remaining rows.
    client
        .batch_execute("DELETE FROM items WHERE id % 5 = 0; VACUUM items")
        .unwrap();
    let kept: Vec<usize> = (0..ds.base.len()).filter(|i| i % 5 != 0).collect();
    let mut after_delete = ds.clone();
    after_delete.truth = data::truth_over(&ds, &kept, Metric::Cosine);
    check_gates(
        &c,
        "items",
        "items_idx",
        &after_delete,
        &[(40, 0.90), (80, 0.95), (160, 0.98)],
        "after deleting 20% + VACUUM, cosine",
    );
    let stats: String = client
        .query_one("SELECT ruvector_index_stats('items_idx')::text", &[])
        .unwrap()
        .get(0);
    println!("after VACUUM: {stats}");

    // Re-insert: the freed slots are reused, so the index hardly grows.
    copy_rows(
        &mut client,
        "items",
        &ds,
        (0..ds.base.len()).filter(|i| i % 5 == 0),
    )
    .unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    let reinserted = size(&mut client);
    println!("index size: built {built} B, after delete + VACUUM + re-insert {reinserted} B");
    assert!(
        (reinserted as f64) < built as f64 * 1.10,
        "re-inserting deleted rows grew the index from {built} to {reinserted} bytes"
    );
    check_gates(
        &c,
        "items",
        "items_idx",
        &ds,
        &PGVECTOR_COSINE,
        "after deleting 20% + VACUUM + re-inserting, cosine",
    );
}
