//! ruhnsw recall@10 on glove-100k (50-d, cosine and L2) against exact ground truth, on every
//! way an index comes to be: serial and parallel in-memory builds, a build that outgrows
//! maintenance_work_mem, an index built empty and filled by inserts, and after deleting 20% +
//! VACUUM + re-inserting.
//!
//! Reference: pgvector 0.8.6 on the same data and parameters (m 16, ef_construction 64,
//! cosine) measured 0.911 / 0.963 / 0.988 at ef_search 40 / 80 / 160 (the figures);
//! built and measured side by side with ruhnsw on this machine type it gives 0.906–0.910 /
//! 0.961–0.962 / 0.988, and ruhnsw 0.908–0.910 / 0.960–0.962 / 0.987–0.988 (README). The
//! gates sit a margin below ruhnsw's measurements so that build-to-build variation (random
//! levels, thread interleaving) does not flake them; each test prints what it measured.

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

/// Gates at ef_search 40 / 80 / 160 for cosine (see the module doc).
/// Gates for L2 (ruhnsw measured 0.871 / 0.933 / 0.974, pgvector 0.8.6 side by side 0.874 /
/// 0.934 / 0.974; both 0.992 at ef_search 400).
const L2_GATES: [(i64, f64); 3] = [(40, 0.86), (80, 0.925), (160, 0.967)];

const COSINE_GATES: [(i64, f64); 3] = [(40, 0.895), (80, 0.952), (160, 0.982)];

/// Gates for the first 50,000 rows built by inserts (cosine; ruhnsw measured 0.925 / 0.974 /
/// 0.991, and 0.999 at ef_search 400).
const INSERT_GATES: [(i64, f64); 3] = [(40, 0.91), (80, 0.962), (160, 0.985)];

/// Checks the recall gates at ef_search 40/80/160 and that 0.99 is reached by raising it
/// (to 400 for cosine, 800 for L2, whose recall climbs more slowly on this set).
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
    let high = if ds.metric == Metric::L2 { 800 } else { 400 };
    let r = recall(&conninfo, table, index, ds, high, ds.queries.len()).unwrap();
    gate(&format!("{what}: recall@10 at ef_search {high}"), r, 0.99);
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
        &COSINE_GATES,
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
        &COSINE_GATES,
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
    check_gates(
        &c,
        "items",
        "items_l2_idx",
        &ds,
        &L2_GATES,
        "parallel build, l2",
    );
}

/// 40MB holds more than half of the graph (about 700 bytes an element is counted here): the build
/// links that much in memory, writes it out and inserts the rest through the on-disk
/// insert path, whose graph quality over a whole table `built_empty_then_filled_by_inserts`
/// checks (a smaller setting only makes this test as slow as that one).
#[test]
fn build_over_maintenance_work_mem() {
    let ds = glove(Metric::Cosine);
    let (c, _) = loaded("recall-overmem", 5463, &ds);
    let (mut client, notices) = connect_collecting_notices(&c.conninfo("postgres")).unwrap();
    client
        .batch_execute(
            "SET maintenance_work_mem = '40MB';
             CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)",
        )
        .unwrap();
    let notices = notices.lock().unwrap().clone();
    // Both paths must build a real share of the graph.
    let switched: usize = notices
        .iter()
        .find_map(|n| {
            n.strip_prefix("ruhnsw graph no longer fits into maintenance_work_mem after ")?
                .strip_suffix(" tuples")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no switch to on-disk inserts: {notices:?}"));
    println!("switched to on-disk inserts after {switched} tuples");
    assert!(
        (20_000..=90_000).contains(&switched),
        "switched after {switched} tuples"
    );
    check_gates(
        &c,
        "items",
        "items_idx",
        &ds,
        &COSINE_GATES,
        "over-memory build, cosine",
    );
}

/// Every element inserted one at a time through the on-disk insert path, into the first
/// half of the rows (inserts cost about 3 ms each on this machine type; the truth is recomputed
/// over those rows, where recall at a given ef_search is higher than over all of them).
#[test]
fn built_empty_then_filled_by_inserts() {
    const ROWS: usize = 50_000;
    let mut ds = glove(Metric::Cosine);
    let c = Cluster::new("recall-inserts", 5464, SETTINGS).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)",
        )
        .unwrap();
    copy_rows(&mut client, "items", &ds, 0..ROWS).unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    let rows: Vec<usize> = (0..ROWS).collect();
    ds.truth = data::truth_over(&ds, &rows, Metric::Cosine);
    check_gates(
        &c,
        "items",
        "items_idx",
        &ds,
        &INSERT_GATES,
        "inserts into empty index (50,000 rows), cosine",
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
        .batch_execute("DELETE FROM items WHERE id % 5 = 0")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
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
        &COSINE_GATES,
        "after deleting 20% + VACUUM + re-inserting, cosine",
    );
}
