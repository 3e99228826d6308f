//! ruhnsw crash safety and replication: a `kill -9` of the whole server during a bulk insert
//! into an indexed table, then recovery from WAL; and a streaming standby that must answer
//! exactly like the primary after inserts, deletes and VACUUM — replaying with
//! `wal_consistency_checking = all`, so every page the index writes is checked against its
//! full-page image on the standby.

use ruvector_bench::dataset::Metric;
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::assert_index_healthy;
use ruvector_server_tests::cluster::{Cluster, CHECKED_PRIMARY};
use ruvector_server_tests::data::{
    copy_rows, crash_during_bulk_load, create_table, glove, hnsw_ids_through_index, ids_in_table,
    recovered_rows, top10_ids,
};
use std::time::Duration;

#[test]
fn kill9_during_bulk_insert_then_recovery() {
    kill9_case("crash", 5471, "");
}

#[test]
fn kill9_during_bulk_insert_then_recovery_sq8() {
    kill9_case("crash-sq8", 5474, "WITH (quantization = 'sq8')");
}

#[test]
fn streaming_standby_returns_the_same_results() {
    standby_case(("primary", 5472), ("standby", 5473), "");
}

#[test]
fn streaming_standby_returns_the_same_results_pq() {
    standby_case(
        ("primary-pq", 5475),
        ("standby-pq", 5476),
        "WITH (quantization = 'pq10')",
    );
}

/// `options`: the index's WITH clause (quantized indexes must be just as durable).
fn kill9_case(name: &str, port: u16, options: &str) {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new(
        name,
        port,
        &["checkpoint_timeout = 30min", "max_wal_size = 4GB"],
    )
    .unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", &ds, 0..20_000).unwrap();
    client
        .batch_execute(&format!(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops) {options};
             CHECKPOINT",
        ))
        .unwrap();

    // Bulk insert in committed batches of 5000 rows from another connection; crash the
    // server while a batch is in flight, after at least two more have committed.
    let acknowledged = crash_during_bulk_load(&c, &mut client, &ds, Duration::from_millis(300));
    drop(client);

    c.start().unwrap();
    let mut client = c.connect("postgres").unwrap();
    assert!(c.log_contains("database system was interrupted") || c.log_contains("redo starts"));
    let table = ids_in_table(&mut client, "items");
    let next = recovered_rows(&table, acknowledged);
    // Index vs sequential scan: the recovered graph reaches exactly the committed rows.
    let through_index =
        hnsw_ids_through_index(&mut client, "items", "items_idx", ds.queries.row(0));
    assert_eq!(
        through_index, table,
        "index and table disagree after recovery"
    );
    assert_index_healthy(&mut client, "items_idx");

    // Every committed row finds itself.
    client.batch_execute("SET ruvector.ef_search = 64").unwrap();
    let stmt = client
        .prepare("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10")
        .unwrap();
    let mut missing = Vec::new();
    for id in table.iter().step_by(37) {
        let found: Vec<i32> = client
            .query(&stmt, &[&VectorParam(ds.base.row(*id as usize))])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !found.contains(id) {
            missing.push(*id);
        }
    }
    assert!(
        missing.len() <= 2,
        "rows not found by their own vector: {missing:?}"
    );

    // The recovered index keeps working: more inserts, VACUUM, and still consistent.
    copy_rows(&mut client, "items", &ds, next..next + 2000).unwrap();
    client
        .batch_execute("DELETE FROM items WHERE id % 10 = 0")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let table = ids_in_table(&mut client, "items");
    let through_index =
        hnsw_ids_through_index(&mut client, "items", "items_idx", ds.queries.row(1));
    assert_eq!(
        through_index, table,
        "index and table disagree after post-recovery VACUUM"
    );
}

fn standby_case(primary: (&str, u16), standby: (&str, u16), options: &str) {
    let ds = glove(Metric::Cosine);
    let primary = Cluster::new(primary.0, primary.1, CHECKED_PRIMARY).unwrap();
    let mut p = primary.with_extension().unwrap();
    // The standby starts before any index exists: the build (log_newpage_range), inserts,
    // deletes and VACUUM all reach it through WAL.
    let standby = primary.standby(standby.0, standby.1).unwrap();

    create_table(&mut p, "items", ds.base.dim).unwrap();
    copy_rows(&mut p, "items", &ds, 0..20_000).unwrap();
    p.batch_execute(&format!(
        "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops) {options}"
    ))
    .unwrap();
    copy_rows(&mut p, "items", &ds, 20_000..25_000).unwrap();
    p.batch_execute("DELETE FROM items WHERE id % 5 = 0")
        .unwrap();
    p.batch_execute("VACUUM items").unwrap();
    copy_rows(&mut p, "items", &ds, (0..25_000).filter(|i| i % 10 == 0)).unwrap();
    p.batch_execute("VACUUM ANALYZE items").unwrap();

    standby.wait_for_replay(&mut p).unwrap();
    let mut s = standby.connect("postgres").unwrap();
    let in_recovery: bool = s
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(in_recovery);

    let on_primary = top10_ids(&mut p, &ds, "SET ruvector.ef_search = 100", 200);
    let on_standby = top10_ids(&mut s, &ds, "SET ruvector.ef_search = 100", 200);
    assert_eq!(
        on_primary, on_standby,
        "standby answers differ from the primary's"
    );
    assert_eq!(
        hnsw_ids_through_index(&mut s, "items", "items_idx", ds.queries.row(0)),
        ids_in_table(&mut p, "items")
    );
    // The replayed index checks clean on the standby (read-only, in recovery), as on the
    // primary.
    assert_index_healthy(&mut p, "items_idx");
    assert_index_healthy(&mut s, "items_idx");
    standby.assert_replayed_cleanly();
}
