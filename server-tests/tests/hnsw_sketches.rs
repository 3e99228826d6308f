//! `ruhnsw ... WITH (sketches = on)` (format version 5, `src/am/hnsw/sketches.rs`): ground-layer
//! neighbour lists carry a sketch of each neighbour, and searches read only the neighbours whose
//! estimated distance can still beat their result's bound. On minilm-384-50k (real 384-d
//! sentence embeddings, cosine): recall@10 at every `ef_search` within 0.005 of the same index
//! without sketches; after inserts, deletes and VACUUM every stored sketch still equals its
//! element's (`ruvector_index_check` compares them) and recall holds, also under 6 concurrent
//! clients inserting, deleting, searching and vacuuming; a standby replaying with
//! `wal_consistency_checking = all` answers like the primary; indexes that cannot have
//! sketches are refused with the reason.

use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_server_tests::cluster::{Cluster, CHECKED_PRIMARY};
use ruvector_server_tests::data::{
    self, copy_rows, create_table, data_dir, hnsw_ids_through_index, ids_in_table, recall,
    top10_ids,
};
use ruvector_server_tests::gate;
use ruvector_server_tests::pages::{items, read_tid};
use ruvector_server_tests::{assert_index_healthy, index_stats, pgbench_mix};
use serde_json::json;

fn minilm(queries: usize) -> Dataset {
    let dir = data_dir("minilm-384-50k");
    Dataset::texmex(&dir, Metric::Cosine, None, Some(queries), 10)
        .unwrap_or_else(|e| panic!("{e:#}: the test needs {}", dir.display()))
}

#[test]
fn sketches_keep_recall_and_stay_in_step_with_the_lists() {
    let ds = minilm(300);
    let c = Cluster::new("sketches", 5531, &["maintenance_work_mem = '1GB'"]).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", &ds, 0..ds.base.len()).unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    let url = c.conninfo("postgres");
    let efs = [10i64, 20, 40, 80, 160];

    // Both indexes are built serially, which makes them the same graph: the comparison is of
    // the sketches alone. Two parallel builds give two graphs whose recall at ef_search 10
    // differs by up to ~0.01 on these 300 queries (CI saw 0.0093), more than the gate allows.
    client
        .batch_execute(
            "SET max_parallel_maintenance_workers = 0;
             CREATE INDEX plain_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)",
        )
        .unwrap();
    let plain: Vec<f64> = efs
        .iter()
        .map(|&ef| recall(&url, "items", "plain_idx", &ds, ef, ds.queries.len()).unwrap())
        .collect();
    client.batch_execute("DROP INDEX plain_idx").unwrap();
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)
               WITH (sketches = on);
             RESET max_parallel_maintenance_workers",
        )
        .unwrap();
    let s = index_stats(&mut client, "items_idx");
    assert_eq!(s["format_version"], 5, "{s}");
    // 448 bits (56 bytes and two f32 factors) keep two 384-d elements a page.
    assert_eq!(
        (&s["sketch_bits"], &s["sketch_bytes"]),
        (&json!(448), &json!(64)),
        "{s}"
    );
    let pages = s["pages"].as_u64().unwrap();
    assert!(
        (25_000..25_100).contains(&pages),
        "two elements a page: {s}"
    );
    for (&ef, p) in efs.iter().zip(&plain) {
        let r = recall(&url, "items", "items_idx", &ds, ef, ds.queries.len()).unwrap();
        println!("ef_search {ef}: recall@10 {r:.4} with sketches, {p:.4} without");
        gate(
            &format!("recall@10 at ef_search {ef} with sketches (without: {p:.4})"),
            r,
            p - 0.005,
        );
    }
    let report = assert_index_healthy(&mut client, "items_idx");
    let checked = &report["checked"];
    println!("after build: {checked}");
    assert!(
        checked["sketches_checked"].as_u64().unwrap() > 50_000 * 16,
        "{report}"
    );
    assert_eq!(checked["sketches_absent"], 0, "{report}");

    // Deletes, VACUUM (repairs write new lists with sketches) and re-inserts (new elements'
    // lists, and their sketches in their neighbours' lists).
    client
        .batch_execute("DELETE FROM items WHERE id % 5 = 0")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let report = assert_index_healthy(&mut client, "items_idx");
    println!("after delete + VACUUM: {}", report["checked"]);
    let kept: Vec<usize> = (0..ds.base.len()).filter(|i| i % 5 != 0).collect();
    let mut after_delete = ds.clone();
    after_delete.truth = data::truth_over(&ds, &kept, Metric::Cosine);
    let r = recall(
        &url,
        "items",
        "items_idx",
        &after_delete,
        40,
        ds.queries.len(),
    )
    .unwrap();
    gate(
        "recall@10 at ef_search 40 after deleting 20% + VACUUM",
        r,
        0.96,
    );
    copy_rows(
        &mut client,
        "items",
        &ds,
        (0..ds.base.len()).filter(|i| i % 5 == 0),
    )
    .unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    let report = assert_index_healthy(&mut client, "items_idx");
    let checked = &report["checked"];
    println!("after re-inserting: {checked}");
    assert!(
        checked["sketches_checked"].as_u64().unwrap() > 50_000 * 16,
        "{report}"
    );
    let r = recall(&url, "items", "items_idx", &ds, 40, ds.queries.len()).unwrap();
    gate(
        "recall@10 at ef_search 40 after re-inserting",
        r,
        plain[2] - 0.01,
    );
    // At the largest ef_search the index returns what an exact scan does.
    assert_eq!(
        hnsw_ids_through_index(&mut client, "items", "items_idx", ds.queries.row(0)),
        ids_in_table(&mut client, "items")
    );
}

/// The concurrency mix (`pgbench_mix`: 6 clients inserting, deleting, searching and
/// vacuuming, with `ruvector_index_check` — which compares every stored sketch with its
/// element's value — and maintenance running beside them) on an index with sketches: no
/// error, no check that finds a problem meanwhile, and afterwards every sketch in step and every
/// row reachable through the graph.
#[test]
fn sketches_stay_in_step_under_concurrent_writes() {
    let ds = minilm(1);
    let c = Cluster::new("sketches-concurrent", 5536, &["max_connections = 50"]).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "pool", ds.base.dim).unwrap();
    copy_rows(&mut client, "pool", &ds, 0..ds.base.len()).unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    client
        .batch_execute(
            "INSERT INTO items SELECT * FROM pool WHERE id < 10000;
             CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)
                 WITH (m = 8, ef_construction = 32, sketches = on);
             ANALYZE items, pool",
        )
        .unwrap();
    let scripts = [
        (
            "insert.sql",
            "\\set id random(10000, 49999)\n\
             INSERT INTO items SELECT * FROM pool WHERE id = :id ON CONFLICT DO NOTHING;\n",
            10,
        ),
        (
            "delete.sql",
            "\\set id random(0, 49999)\nDELETE FROM items WHERE id = :id;\n",
            4,
        ),
        (
            "select.sql",
            "\\set id random(0, 49999)\n\
             SELECT id FROM items ORDER BY embedding <=> \
             (SELECT embedding FROM pool WHERE id = :id) LIMIT 10;\n",
            20,
        ),
        ("vacuum.sql", "VACUUM items;\n", 1),
    ];
    pgbench_mix(&c, "items_idx", &scripts, 6, 30);

    // A last delete and VACUUM repairs what the run left behind; then every link's sketch
    // equals its element's and the graph reaches every row.
    client
        .batch_execute("DELETE FROM items WHERE id = (SELECT min(id) FROM items)")
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let report = assert_index_healthy(&mut client, "items_idx");
    let checked = &report["checked"];
    println!("after the concurrent run: {checked}");
    let rows = ids_in_table(&mut client, "items");
    assert!(
        checked["sketches_checked"].as_u64().unwrap() > rows.len() as u64 * 4,
        "{report}"
    );
    assert_eq!(checked["sketches_absent"], 0, "{report}");
    assert_eq!(
        hnsw_ids_through_index(&mut client, "items", "items_idx", ds.queries.row(0)),
        rows
    );
}

#[test]
fn sketches_replay_on_a_checked_standby() {
    let ds = minilm(100);
    let primary = Cluster::new("sketches-primary", 5532, CHECKED_PRIMARY).unwrap();
    let mut p = primary.with_extension().unwrap();
    let standby = primary.standby("sketches-standby", 5533).unwrap();
    create_table(&mut p, "items", ds.base.dim).unwrap();
    copy_rows(&mut p, "items", &ds, 0..8_000).unwrap();
    p.batch_execute(
        "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)
           WITH (sketches = on)",
    )
    .unwrap();
    copy_rows(&mut p, "items", &ds, 8_000..10_000).unwrap();
    p.batch_execute("DELETE FROM items WHERE id % 5 = 0")
        .unwrap();
    p.batch_execute("VACUUM items").unwrap();
    copy_rows(&mut p, "items", &ds, (0..10_000).filter(|i| i % 10 == 0)).unwrap();
    p.batch_execute("VACUUM ANALYZE items").unwrap();
    standby.wait_for_replay(&mut p).unwrap();
    let mut s = standby.connect("postgres").unwrap();
    let on_primary = top10_ids(&mut p, &ds, "SET ruvector.ef_search = 40", 100);
    let on_standby = top10_ids(&mut s, &ds, "SET ruvector.ef_search = 40", 100);
    assert_eq!(
        on_primary, on_standby,
        "standby answers differ from the primary's"
    );
    assert_index_healthy(&mut p, "items_idx");
    assert_index_healthy(&mut s, "items_idx");
    standby.assert_replayed_cleanly();
}

#[test]
fn indexes_that_cannot_have_sketches_are_refused() {
    let c = Cluster::new("sketches-refused", 5534, &[]).unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (v ruvector(384), w ruvector(50), k int4);
             INSERT INTO t SELECT array_fill(i::real, ARRAY[384])::ruvector,
                                  array_fill(i::real, ARRAY[50])::ruvector, i
               FROM generate_series(1, 10) i",
        )
        .unwrap();
    for ddl in [
        "CREATE INDEX ON t USING ruhnsw (v ruvector_ip_ops) WITH (sketches = on)",
        "CREATE INDEX ON t USING ruhnsw (w ruvector_l2_ops) WITH (sketches = on)",
        "CREATE INDEX ON t USING ruhnsw (v ruvector_l2_ops) WITH (sketches = on, quantization = 'sq8')",
        "CREATE INDEX ON t USING ruhnsw (v ruvector_l2_ops, k) WITH (sketches = on)",
    ] {
        let e = client.batch_execute(ddl).unwrap_err();
        let db = e.as_db_error().unwrap_or_else(|| panic!("{ddl}: {e}"));
        assert_eq!(db.code().code(), "0A000", "{ddl}: {db:?}");
        assert_eq!(
            db.message(),
            "sketches are only supported for unquantized ruhnsw indexes without key columns on \
             vector or halfvec l2 or cosine distance, of 64 to 2000 dimensions",
            "{ddl}"
        );
    }
    client
        .batch_execute(
            "CREATE INDEX t_idx ON t USING ruhnsw (v ruvector_l2_ops) WITH (sketches = off);
             CREATE INDEX t_h_idx ON t USING ruhnsw ((v::halfvec(384)) halfvec_l2_ops)
               WITH (sketches = on)",
        )
        .unwrap();
    assert_eq!(index_stats(&mut client, "t_idx")["format_version"], 1);
    assert_eq!(index_stats(&mut client, "t_h_idx")["format_version"], 5);
}

/// A sketch damaged on disk (its bits inverted): the check reports that one link's sketch no
/// longer matches its element, and searches still return only the table's rows — a sketch
/// only decides which neighbours a search reads; maintenance rewrites it from the element's
/// value, fills another one that was zeroed (absent), and the check finds the index clean
/// again.
#[test]
fn a_damaged_sketch_is_found_by_the_check() {
    let c = Cluster::new(
        "sketches-damaged",
        5535,
        &["autovacuum = off", "ignore_checksum_failure = on"],
    )
    .unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v ruvector(64));
             INSERT INTO t SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 1.3))
                                        FROM generate_series(1, 64) j)::ruvector
               FROM generate_series(1, 3000) i;
             CREATE INDEX t_idx ON t USING ruhnsw (v ruvector_l2_ops) WITH (sketches = on);
             CHECKPOINT",
        )
        .unwrap();
    let clean = assert_index_healthy(&mut client, "t_idx");
    assert!(
        clean["checked"]["sketches_checked"].as_u64().unwrap() > 3000 * 8,
        "{clean}"
    );
    let file: String = client
        .query_one("SELECT pg_relation_filepath('t_idx')", &[])
        .unwrap()
        .get(0);
    let sketch_bytes = index_stats(&mut client, "t_idx")["sketch_bytes"]
        .as_u64()
        .unwrap() as usize;
    drop(client);
    c.stop().unwrap();

    // The first neighbour tuple (item type 2) on an element page (page type 2 in ruvector's
    // trailer) whose first ground-layer slot holds a link: invert its sketch's bits.
    let path = c.dir.join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    let (block, off, target, at) = bytes
        .chunks(8192)
        .enumerate()
        .skip(1)
        .filter(|(_, page)| page[8192 - 4] == 2)
        .find_map(|(block, page)| {
            items(page).into_iter().find_map(|(off, r)| {
                let t = &page[r.clone()];
                let count = u16::from_ne_bytes([t[2], t[3]]) as usize;
                let target = read_tid(&t[4..10]);
                let second = read_tid(&t[10..16]);
                let linked = |t: (u32, u16)| t.1 != 0 && t.0 != u32::MAX;
                (t[0] == 2 && linked(target) && linked(second)).then(|| {
                    (
                        block as u32,
                        off,
                        target,
                        block * 8192 + r.start + 4 + count * 6,
                    )
                })
            })
        })
        .expect("a neighbour tuple with a link");
    for b in &mut bytes[at..at + sketch_bytes - 8] {
        *b = !*b;
    }
    // ... and the second slot's sketch zeroed: absent, as an insert that could not read that
    // neighbour leaves it (not damage: searches read the neighbour).
    bytes[at + sketch_bytes..at + 2 * sketch_bytes].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    c.start().unwrap();

    let mut client = c.connect("postgres").unwrap();
    let text: String = client
        .query_one("SELECT ruvector_index_check('t_idx', true)::text", &[])
        .unwrap()
        .get(0);
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["problem_count"], 1, "{r}");
    assert_eq!(
        (
            &clean["checked"]["sketches_absent"],
            &r["checked"]["sketches_absent"]
        ),
        (&json!(0), &json!(1)),
        "{r}"
    );
    let p = &r["problems"][0];
    assert_eq!(
        (&p["block"], &p["offset"]),
        (&json!(block), &json!(off)),
        "{r}"
    );
    let expected = format!(
        "sketch of its layer-0 link to ({},{}) does not match that element's value",
        target.0, target.1
    );
    assert!(p["problem"].as_str().unwrap().ends_with(&expected), "{r}");
    // Searches read the elements their result is made of: every row they return is the
    // table's, and a walk of the whole graph returns every row.
    client
        .batch_execute("SET enable_seqscan = off; SET ruvector.ef_search = 40")
        .unwrap();
    for q in 1..=20 {
        let rows = client
            .query(
                &format!(
                    "SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = {q}) LIMIT 10"
                ),
                &[],
            )
            .unwrap();
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[0].get::<_, i32>(0), q);
    }
    let maintain = |client: &mut postgres::Client| -> serde_json::Value {
        let text: String = client
            .query_one("SELECT ruvector_index_maintenance('t_idx')::text", &[])
            .unwrap()
            .get(0);
        serde_json::from_str(&text).unwrap()
    };
    let m = maintain(&mut client);
    assert_eq!(
        (&m["sketches_rewritten"], &m["sketches_filled"]),
        (&json!(1), &json!(1)),
        "{m}"
    );
    let healthy = assert_index_healthy(&mut client, "t_idx");
    assert_eq!(
        (
            &healthy["checked"]["sketches_checked"],
            &healthy["checked"]["sketches_absent"]
        ),
        (&clean["checked"]["sketches_checked"], &json!(0)),
        "{healthy}"
    );
    let again = maintain(&mut client);
    assert_eq!(again["sketches_rewritten"], 0, "{again}");
}
