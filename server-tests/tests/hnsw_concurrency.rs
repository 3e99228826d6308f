//! ruhnsw under concurrent load: pgbench clients mixing INSERT, DELETE, k-NN SELECT and
//! VACUUM for a bounded time must see no error, and afterwards every surviving row must still
//! be reachable through the index (index scan and sequential scan agree) and found by its own
//! vector.

use postgres::Client;
use ruvector_bench::dataset::Metric;
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, glove};
use ruvector_server_tests::{assert_index_healthy, pgbench_mix};
use std::collections::BTreeSet;

/// New rows come from the rest of the GloVe set (`pool`, ids 20000..99999), as a real
/// workload's would come from the same distribution as the indexed ones; queries are GloVe
/// rows too.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "insert.sql",
        "\\set id random(20000, 99999)\n\
         INSERT INTO items (embedding) SELECT embedding FROM pool WHERE id = :id;\n",
    ),
    (
        "delete.sql",
        "\\set id random(1, 40000)\nDELETE FROM items WHERE id = :id;\n",
    ),
    (
        "select.sql",
        "\\set id random(0, 99999)\n\
         SELECT id FROM items ORDER BY embedding <=> (SELECT embedding FROM pool WHERE id = :id) LIMIT 10;\n",
    ),
    ("vacuum.sql", "VACUUM items;\n"),
];

/// Runs the pgbench mix (`pgbench_mix`: with the index checked and maintained meanwhile) of
/// `scripts` at `weights` on 6 clients for `seconds`.
fn run_pgbench(c: &Cluster, scripts: &[(&str, &str)], weights: &[u32], seconds: u32) {
    let weighted: Vec<(&str, &str, u32)> = scripts
        .iter()
        .zip(weights)
        .map(|(&(name, body), &w)| (name, body, w))
        .collect();
    pgbench_mix(c, "items_idx", &weighted, 6, seconds);
}

/// The same mix on an index with a key column, its filtered queries answered from the key
/// directory (a tenant holds about 400 rows: few enough to visit directly) while inserts
/// append entries and VACUUM removes them: afterwards each tenant's rows through the index are
/// exactly the table's.
#[test]
fn pgbench_with_key_column_and_directory_compaction() {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new("concurrency-keys", 5482, &["max_connections = 50"]).unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE pool (id int4 PRIMARY KEY, embedding ruvector(50));
             CREATE TABLE items (id bigserial PRIMARY KEY, embedding ruvector(50),
                 tenant int4 GENERATED ALWAYS AS ((id % 50)::int4) STORED,
                 cat int4 GENERATED ALWAYS AS ((id % 4)::int4) STORED);",
        )
        .unwrap();
    copy_rows(&mut client, "pool", &ds, 0..40_000).unwrap();
    client
        .batch_execute(
            "INSERT INTO items (embedding) SELECT embedding FROM pool WHERE id < 20000 ORDER BY id;
             CREATE INDEX items_idx ON items
                 USING ruhnsw (embedding ruvector_cosine_ops, tenant, cat)
                 WITH (m = 8, ef_construction = 32);
             ANALYZE items, pool",
        )
        .unwrap();
    let scripts: &[(&str, &str)] = &[
        (
            "insert.sql",
            "\\set id random(20000, 39999)\n\
             INSERT INTO items (embedding) SELECT embedding FROM pool WHERE id = :id;\n",
        ),
        (
            "delete.sql",
            "\\set id random(1, 40000)\nDELETE FROM items WHERE id = :id;\n",
        ),
        (
            "select.sql",
            "\\set id random(0, 39999)\n\\set t random(0, 49)\n\
             SELECT id FROM items WHERE tenant = :t \
             ORDER BY embedding <=> (SELECT embedding FROM pool WHERE id = :id) LIMIT 10;\n",
        ),
        (
            "select_cat.sql",
            "\\set id random(0, 39999)\n\\set c random(0, 3)\n\
             SELECT id FROM items WHERE cat = :c \
             ORDER BY embedding <=> (SELECT embedding FROM pool WHERE id = :id) LIMIT 10;\n",
        ),
        ("vacuum.sql", "VACUUM items;\n"),
    ];
    // `cat` (a quarter of the rows per value) has key links: inserts link into them and VACUUM
    // repairs them while filtered walks follow them.
    let linked: String = client
        .query_one(
            "SELECT (ruvector_index_stats('items_idx') -> 'key_link_columns')::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(linked, "[2]");
    run_pgbench(&c, scripts, &[10, 6, 20, 10, 2], 40);
    // A last VACUUM with something to delete (the directory is compacted when VACUUM deletes).
    client
        .batch_execute("DELETE FROM items WHERE id = (SELECT min(id) FROM items)")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let stale: i64 = client
        .query_one(
            "SELECT (ruvector_index_stats('items_idx') -> 'key_directory' ->> 'stale_entries')::int8",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stale, 0, "VACUUM left stale key directory entries");
    let report = assert_index_healthy(&mut client, "items_idx");
    assert_eq!(report["checked"]["key_directory"]["missing_entries"], 0);
    client
        .batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .unwrap();
    for t in 0..50 {
        let through_index = ids(
            &mut client,
            &format!(
                "SELECT id FROM items WHERE tenant = {t} ORDER BY embedding <=> $1 LIMIT 100000"
            ),
            ds.queries.row(t),
        );
        let table: BTreeSet<i64> = client
            .query(&format!("SELECT id FROM items WHERE tenant = {t}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(through_index, table, "tenant {t}: index and table disagree");
    }
    // Filtered walks along the key links still find the nearest rows of a category (recall
    // 0.92 measured at m 8, ef_search 40).
    let (mut hits, mut want) = (0, 0);
    for i in 0..30 {
        let q = ds.queries.row(i);
        let sql = format!(
            "SELECT id FROM items WHERE cat = {} ORDER BY embedding <=> $1 LIMIT 10",
            i % 4
        );
        let got = ids(&mut client, &sql, q);
        client
            .batch_execute("SET enable_indexscan = off; SET enable_seqscan = on")
            .unwrap();
        let truth = ids(&mut client, &sql, q);
        client
            .batch_execute("SET enable_indexscan = on; SET enable_seqscan = off")
            .unwrap();
        hits += got.intersection(&truth).count();
        want += truth.len();
    }
    let recall = hits as f64 / want as f64;
    eprintln!("cat filter after the mix: recall@10 {recall:.3}");
    assert!(
        recall >= 0.85,
        "cat filter after the mix: recall {recall:.3}"
    );
}

fn ids(client: &mut Client, sql: &str, q: &[f32]) -> BTreeSet<i64> {
    client
        .query(sql, &[&VectorParam(q)])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn pgbench_insert_delete_select_vacuum() {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new("concurrency", 5481, &["max_connections = 50"]).unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE pool (id int4 PRIMARY KEY, embedding ruvector(50));
             CREATE TABLE items (id bigserial PRIMARY KEY, embedding ruvector(50));",
        )
        .unwrap();
    copy_rows(&mut client, "pool", &ds, 0..ds.base.len()).unwrap();
    client
        .batch_execute(
            "INSERT INTO items (embedding) SELECT embedding FROM pool WHERE id < 20000 ORDER BY id;
             CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)
                 WITH (m = 8, ef_construction = 32);
             ANALYZE items, pool",
        )
        .unwrap();

    run_pgbench(&c, SCRIPTS, &[10, 4, 20, 1], 45);

    // Everything that survived is reachable: the whole graph walked by an iterative index
    // scan equals the table.
    // A last VACUUM with something to delete: it also repairs what the concurrent run left
    // behind (links displaced after the run's last VACUUM).
    client
        .batch_execute("DELETE FROM items WHERE id = (SELECT min(id) FROM items)")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let report = assert_index_healthy(&mut client, "items_idx");
    println!("after the concurrent run: {}", report["checked"]);
    let table: BTreeSet<i64> = client
        .query("SELECT id FROM items", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    client
        .batch_execute(
            "SET enable_seqscan = off; SET ruvector.hnsw_iterative_scan = relaxed_order;
             SET ruvector.hnsw_max_scan_tuples = 100000000; SET work_mem = '256MB'",
        )
        .unwrap();
    let all = ids(
        &mut client,
        "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 100000000",
        ds.queries.row(0),
    );
    assert_eq!(all.len(), table.len());
    assert_eq!(
        all, table,
        "index and table disagree after the concurrent run"
    );

    // ... and each row is found by its own vector: at ef_search 100 almost always (the graph
    // is approximate, and m = 8 is small), at 400 all but a handful.
    let rows: Vec<(i64, Vec<f32>)> = client
        .query("SELECT id, embedding::real[] FROM items", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    client
        .batch_execute("RESET ruvector.hnsw_iterative_scan")
        .unwrap();
    let sample: Vec<&(i64, Vec<f32>)> = rows.iter().step_by(7).collect();
    for (ef, max_missing_per_mille) in [(100, 5), (400, 1)] {
        client
            .batch_execute(&format!("SET ruvector.ef_search = {ef}"))
            .unwrap();
        let stmt = client
            .prepare("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10")
            .unwrap();
        let mut missing = Vec::new();
        for (id, v) in &sample {
            let found: Vec<i64> = client
                .query(&stmt, &[&VectorParam(v)])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            if !found.contains(id) {
                missing.push(*id);
            }
        }
        let checked = sample.len();
        println!(
            "ef_search {ef}: {} of {checked} rows not found by their own vector",
            missing.len()
        );
        assert!(
            missing.len() * 1000 <= checked * max_missing_per_mille,
            "ef_search {ef}: {} of {checked} rows not found by their own vector: {missing:?}",
            missing.len()
        );
    }
}
