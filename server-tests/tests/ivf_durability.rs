//! ruivfflat crash safety and replication (the harness of `hnsw_durability.rs`): a `kill -9`
//! of the whole server during a bulk insert into an indexed table, then recovery from WAL; and
//! a streaming standby replaying with `wal_consistency_checking = all` that must answer exactly
//! like the primary after inserts, deletes and VACUUM. With every list probed, an index scan
//! must return exactly the table's rows — also, for an index with key columns, the rows that
//! pass a condition on them.

use postgres::Client;
use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::cluster::{Cluster, CHECKED_PRIMARY};
use ruvector_server_tests::data::{
    assert_index_scan, copy_rows, crash_during_bulk_load, create_table, glove, recovered_rows,
};
use ruvector_server_tests::{assert_index_healthy, pgbench_mix};
use std::collections::BTreeSet;
use std::time::Duration;

const LISTS: i32 = 50;

/// Key columns computed from the id, and the index's columns after the vector, of the
/// `_with_keys` cases.
const KEYS: (&str, &str) = (
    "ALTER TABLE items ADD COLUMN c10 int4 GENERATED ALWAYS AS (id % 10) STORED,
                      ADD COLUMN c1000 int8 GENERATED ALWAYS AS (id % 1000) STORED",
    ", c10, c1000",
);

/// Every row an index scan returns with all lists probed.
fn ids_through_index(client: &mut Client, index: &str, query: &[f32]) -> BTreeSet<i32> {
    ids_through_index_where(client, index, query, "true")
}

/// Every row passing `filter` an index scan returns with all lists probed.
fn ids_through_index_where(
    client: &mut Client,
    index: &str,
    query: &[f32],
    filter: &str,
) -> BTreeSet<i32> {
    client
        .batch_execute(&format!(
            "SET enable_seqscan = off; SET enable_bitmapscan = off; SET ruvector.probes = {LISTS}"
        ))
        .unwrap();
    let sql =
        &format!("SELECT id FROM items WHERE {filter} ORDER BY embedding <=> $1 LIMIT 100000000");
    assert_index_scan(client, sql, &[&VectorParam(query)], index);
    let ids = client
        .query(sql, &[&VectorParam(query)])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    client
        .batch_execute("RESET enable_seqscan; RESET enable_bitmapscan; RESET ruvector.probes")
        .unwrap();
    ids
}

fn ids_in_table(client: &mut Client) -> BTreeSet<i32> {
    ids_in_table_where(client, "true")
}

fn ids_in_table_where(client: &mut Client, filter: &str) -> BTreeSet<i32> {
    client
        .query(&format!("SELECT id FROM items WHERE {filter}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Top-10 ids (with their distances) for the first `n` queries through the index.
fn top10(client: &mut Client, ds: &Dataset, n: usize) -> Vec<Vec<(i32, f64)>> {
    client.batch_execute("SET ruvector.probes = 5").unwrap();
    let stmt = client
        .prepare("SELECT id, embedding <=> $1 FROM items ORDER BY embedding <=> $1 LIMIT 10")
        .unwrap();
    (0..n)
        .map(|q| {
            client
                .query(&stmt, &[&VectorParam(ds.queries.row(q))])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        })
        .collect()
}

#[test]
fn kill9_during_bulk_insert_then_recovery() {
    kill9_case("ivf-crash", 5511, "", false);
}

#[test]
fn kill9_during_bulk_insert_then_recovery_sq8() {
    kill9_case("ivf-crash-sq8", 5514, ", quantization = 'sq8'", false);
}

#[test]
fn kill9_during_bulk_insert_then_recovery_with_keys() {
    kill9_case("ivf-crash-keys", 5517, "", true);
}

#[test]
fn streaming_standby_returns_the_same_results() {
    standby_case(("ivf-primary", 5512), ("ivf-standby", 5513), "", false);
}

#[test]
fn streaming_standby_returns_the_same_results_binary() {
    standby_case(
        ("ivf-primary-bin", 5515),
        ("ivf-standby-bin", 5516),
        ", quantization = 'binary'",
        false,
    );
}

#[test]
fn streaming_standby_returns_the_same_results_with_keys() {
    standby_case(
        ("ivf-primary-keys", 5518),
        ("ivf-standby-keys", 5519),
        "",
        true,
    );
}

/// With key columns ([`KEYS`]), the rows passing conditions on them through the index, with
/// every list probed, are exactly the table's.
fn check_keys(client: &mut Client, table: &mut Client, query: &[f32]) {
    for f in [
        "c1000 = 0",
        "c1000 = 499",
        "c10 = 3 AND c1000 < 100",
        "c10 IN (1, 2)",
    ] {
        assert_eq!(
            ids_through_index_where(client, "items_idx", query, f),
            ids_in_table_where(table, f),
            "{f}: index and table disagree"
        );
    }
}

/// `options`: more index options (quantized indexes must be just as durable); `keys`: the index
/// has key columns ([`KEYS`]).
fn kill9_case(name: &str, port: u16, options: &str, keys: bool) {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new(
        name,
        port,
        &["checkpoint_timeout = 30min", "max_wal_size = 4GB"],
    )
    .unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    let columns = if keys {
        client.batch_execute(KEYS.0).unwrap();
        KEYS.1
    } else {
        ""
    };
    copy_rows(&mut client, "items", &ds, 0..20_000).unwrap();
    client
        .batch_execute(&format!(
            "CREATE INDEX items_idx ON items
                 USING ruivfflat (embedding ruvector_cosine_ops{columns})
                 WITH (lists = {LISTS}{options});
             CHECKPOINT"
        ))
        .unwrap();

    // Committed batches of 5000 rows from another connection; crash while one is in flight.
    let acknowledged = crash_during_bulk_load(&c, &mut client, &ds, Duration::from_millis(100));
    drop(client);

    c.start().unwrap();
    let mut client = c.connect("postgres").unwrap();
    assert!(c.log_contains("database system was interrupted") || c.log_contains("redo starts"));
    let table = ids_in_table(&mut client);
    let next = recovered_rows(&table, acknowledged);
    assert_eq!(
        ids_through_index(&mut client, "items_idx", ds.queries.row(0)),
        table,
        "index and table disagree after recovery"
    );
    assert_index_healthy(&mut client, "items_idx");
    if keys {
        let mut table = c.connect("postgres").unwrap();
        check_keys(&mut client, &mut table, ds.queries.row(0));
    }

    // The recovered index keeps working: inserts, VACUUM, and still consistent.
    copy_rows(&mut client, "items", &ds, next..next + 2000).unwrap();
    client
        .batch_execute("DELETE FROM items WHERE id % 10 = 0")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let table = ids_in_table(&mut client);
    assert_eq!(
        ids_through_index(&mut client, "items_idx", ds.queries.row(1)),
        table,
        "index and table disagree after post-recovery VACUUM"
    );
    if keys {
        let mut table = c.connect("postgres").unwrap();
        check_keys(&mut client, &mut table, ds.queries.row(1));
    }
}

fn standby_case(primary: (&str, u16), standby: (&str, u16), options: &str, keys: bool) {
    let ds = glove(Metric::Cosine);
    let primary = Cluster::new(primary.0, primary.1, CHECKED_PRIMARY).unwrap();
    let mut p = primary.with_extension().unwrap();
    // The standby starts before the index exists: build, inserts (new pages, list updates),
    // deletes and VACUUM all reach it through WAL.
    let standby = primary.standby(standby.0, standby.1).unwrap();

    create_table(&mut p, "items", ds.base.dim).unwrap();
    let columns = if keys {
        p.batch_execute(KEYS.0).unwrap();
        KEYS.1
    } else {
        ""
    };
    copy_rows(&mut p, "items", &ds, 0..20_000).unwrap();
    p.batch_execute(&format!(
        "CREATE INDEX items_idx ON items USING ruivfflat (embedding ruvector_cosine_ops{columns})
             WITH (lists = {LISTS}{options})"
    ))
    .unwrap();
    copy_rows(&mut p, "items", &ds, 20_000..30_000).unwrap();
    p.batch_execute("DELETE FROM items WHERE id % 5 = 0")
        .unwrap();
    p.batch_execute("VACUUM items").unwrap();
    copy_rows(&mut p, "items", &ds, (0..30_000).filter(|i| i % 10 == 0)).unwrap();
    p.batch_execute("VACUUM ANALYZE items").unwrap();

    standby.wait_for_replay(&mut p).unwrap();
    let mut s = standby.connect("postgres").unwrap();
    let in_recovery: bool = s
        .query_one("SELECT pg_is_in_recovery()", &[])
        .unwrap()
        .get(0);
    assert!(in_recovery);
    assert_eq!(
        top10(&mut p, &ds, 200),
        top10(&mut s, &ds, 200),
        "standby answers differ from the primary's"
    );
    assert_eq!(
        ids_through_index(&mut s, "items_idx", ds.queries.row(0)),
        ids_in_table(&mut p)
    );
    if keys {
        check_keys(&mut s, &mut p, ds.queries.row(2));
    }
    // The replayed index checks clean on the standby (read-only, in recovery), as on the
    // primary.
    assert_index_healthy(&mut p, "items_idx");
    assert_index_healthy(&mut s, "items_idx");
    standby.assert_replayed_cleanly();
}

/// Rows longer than a page (3,072 dimensions at full precision: each row in two part items),
/// inserted by two connections at once — their parts interleave on the lists' pages — when the
/// server is killed: after recovery the index returns exactly the table's rows (the parts of
/// the inserts cut off join no row), VACUUM removes those parts, and the index goes on taking
/// inserts, deletes and VACUUM.
#[test]
fn kill9_during_concurrent_inserts_of_rows_in_parts() {
    const BATCH: usize = 20;
    let ds = Dataset::synthetic(7000, 3072, 2, 16, Metric::Cosine, 29, 10).unwrap();
    let c = Cluster::new(
        "ivf-crash-parts",
        5654,
        // Small WAL buffers: the loaders' WAL reaches the kernel before they commit, so rows
        // (and parts) of the inserts cut off survive the crash, belonging to no committed row.
        &[
            "checkpoint_timeout = 30min",
            "max_wal_size = 4GB",
            "wal_buffers = '64kB'",
        ],
    )
    .unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", &ds, 0..1000).unwrap();
    client
        .batch_execute(&format!(
            "CREATE INDEX items_idx ON items USING ruivfflat (embedding ruvector_cosine_ops)
                 WITH (lists = {LISTS});
             CHECKPOINT"
        ))
        .unwrap();
    let s = client
        .query_one("SELECT ruvector_index_stats('items_idx')::text", &[])
        .unwrap()
        .get::<_, String>(0);
    assert!(s.contains("\"data_tuples_in_parts\": true"), "{s}");

    // Two loaders, batches of BATCH rows each committed on its own; rows 1000..6000.
    let loaders: Vec<_> = (0..2)
        .map(|w| {
            let (ds, conninfo) = (ds.clone(), c.conninfo("postgres"));
            std::thread::spawn(move || {
                let mut l = Client::connect(&conninfo, postgres::NoTls).unwrap();
                let mut committed = Vec::new();
                for b in (w..).step_by(2) {
                    let start = 1000 + b * BATCH;
                    if start >= 6000
                        || copy_rows(&mut l, "items", &ds, start..start + BATCH).is_err()
                    {
                        break;
                    }
                    committed.push(start);
                }
                committed
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while client
        .query_one("SELECT count(*) FROM items", &[])
        .unwrap()
        .get::<_, i64>(0)
        < 3000
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the inserts made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.kill9().unwrap();
    let committed: Vec<usize> = loaders
        .into_iter()
        .flat_map(|l| l.join().unwrap())
        .collect();
    drop(client);

    c.start().unwrap();
    let mut client = c.connect("postgres").unwrap();
    let table = ids_in_table(&mut client);
    assert!(table.len() < 6000, "the crash came after the whole load");
    for start in committed {
        for id in start..start + BATCH {
            assert!(table.contains(&(id as i32)), "committed row {id} lost");
        }
    }
    assert_eq!(
        ids_through_index(&mut client, "items_idx", ds.queries.row(0)),
        table,
        "index and table disagree after recovery"
    );
    let report = assert_index_healthy(&mut client, "items_idx");
    println!(
        "{} rows after recovery; parts of cut-off inserts: {}",
        table.len(),
        report["checked"]["unjoined_parts"]
    );
    client.batch_execute("VACUUM items").unwrap();
    let report = assert_index_healthy(&mut client, "items_idx");
    assert_eq!(report["checked"]["unjoined_parts"], 0, "{report}");
    assert_eq!(report["warning_count"], 0, "{report}");

    copy_rows(&mut client, "items", &ds, 6000..7000).unwrap();
    client
        .batch_execute("DELETE FROM items WHERE id % 10 = 0")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    assert_eq!(
        ids_through_index(&mut client, "items_idx", ds.queries.row(1)),
        ids_in_table(&mut client),
        "index and table disagree after post-recovery inserts and VACUUM"
    );
    assert_index_healthy(&mut client, "items_idx");
}

/// Rows in parts (2,500 dimensions: two part items each) under concurrent load: pgbench
/// clients inserting (parts interleaving on the lists' pages, into space VACUUM freed), deleting,
/// searching and vacuuming, with the index checked and maintained meanwhile, see no error;
/// afterwards the index returns exactly the table's rows and no part is left over.
#[test]
fn pgbench_rows_in_parts() {
    let ds = Dataset::synthetic(3000, 2500, 2, 16, Metric::Cosine, 31, 10).unwrap();
    let c = Cluster::new("ivf-parts-pgbench", 5655, &["max_connections = 50"]).unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE pool (id int4 PRIMARY KEY, embedding ruvector(2500));
             CREATE TABLE items (id serial PRIMARY KEY, embedding ruvector(2500));",
        )
        .unwrap();
    copy_rows(&mut client, "pool", &ds, 0..ds.base.len()).unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO items (embedding) SELECT embedding FROM pool WHERE id < 1000 ORDER BY id;
             CREATE INDEX items_idx ON items USING ruivfflat (embedding ruvector_cosine_ops)
                 WITH (lists = {LISTS});
             ANALYZE items, pool"
        ))
        .unwrap();
    let scripts = [
        (
            "insert.sql",
            "\\set id random(0, 2999)\n\
             INSERT INTO items (embedding) SELECT embedding FROM pool WHERE id = :id;\n",
            10,
        ),
        (
            "delete.sql",
            "\\set id random(1, 4000)\nDELETE FROM items WHERE id = :id;\n",
            4,
        ),
        (
            "select.sql",
            "\\set id random(0, 2999)\n\
             SET ruvector.probes = 10;\n\
             SELECT id FROM items ORDER BY embedding <=> (SELECT embedding FROM pool WHERE id = :id) LIMIT 10;\n",
            20,
        ),
        ("vacuum.sql", "VACUUM items;\n", 1),
    ];
    pgbench_mix(&c, "items_idx", &scripts, 6, 30);

    client.batch_execute("VACUUM items").unwrap();
    let report = assert_index_healthy(&mut client, "items_idx");
    println!("after the concurrent run: {}", report["checked"]);
    assert_eq!(report["checked"]["unjoined_parts"], 0, "{report}");
    assert_eq!(
        ids_through_index(&mut client, "items_idx", ds.queries.row(0)),
        ids_in_table(&mut client),
        "index and table disagree after the concurrent run"
    );
}
