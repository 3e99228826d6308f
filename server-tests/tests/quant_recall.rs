//! Quantized indexes on real data and at high dimensions:
//! * minilm-384-50k (384-d sentence embeddings, cosine): `sq8` indexes of both access methods
//!   reach recall@10 ≥ 0.95 at 0.4× the size of the unquantized index or less;
//! * 3072- and 16,000-dimension tables (synthetic, clustered) — above pgvector's 2,000 — indexed
//!   by `ruhnsw` with `sq8`, recall checked against exact ground truth; at 16,000 the codes
//!   span pages, and a standby replays it all;
//! * the same at full precision: unquantized `ruhnsw` over `ruvector(16000)` and
//!   `halfvec(16000)`, whose images are split over code pages (8 and 4 per element), and
//!   unquantized `ruivfflat` over both, whose centres and rows are stored as part items.

use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, create_table, data_dir, recall_at, top10_ids};
use ruvector_server_tests::{assert_index_healthy, index_stats};

fn index_bytes(client: &mut postgres::Client, index: &str) -> i64 {
    client
        .query_one("SELECT pg_relation_size($1::text::regclass)", &[&index])
        .unwrap()
        .get(0)
}

#[test]
fn sq8_on_minilm_is_smaller_at_the_same_recall() {
    let dir = data_dir("minilm-384-50k");
    let ds = Dataset::texmex(&dir, Metric::Cosine, None, Some(300), 10)
        .unwrap_or_else(|e| panic!("{e:#}: the test needs {}", dir.display()));
    let c = Cluster::new("quant-minilm", 5521, &["maintenance_work_mem = '1GB'"]).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", &ds, 0..ds.base.len()).unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    let url = c.conninfo("postgres");
    for (am, with, guc, value) in [
        ("ruhnsw", "", "ruvector.ef_search", 40),
        ("ruivfflat", "lists = 224,", "ruvector.probes", 32),
    ] {
        let mut sizes = Vec::new();
        for q in ["none", "sq8"] {
            client
                .batch_execute(&format!(
                    "DROP INDEX IF EXISTS items_idx;
                     CREATE INDEX items_idx ON items USING {am} (embedding ruvector_cosine_ops)
                       WITH ({with} quantization = '{q}')"
                ))
                .unwrap();
            sizes.push(index_bytes(&mut client, "items_idx"));
            let r = recall_at(&url, "items", "items_idx", &ds, guc, value, 300).unwrap();
            eprintln!(
                "{am} {q}: {} bytes, recall@10 {r:.4} at {guc} = {value}",
                sizes.last().unwrap()
            );
            assert!(r >= 0.95, "{am} {q}: recall {r} < 0.95");
        }
        let ratio = sizes[1] as f64 / sizes[0] as f64;
        eprintln!("{am}: sq8 / none size ratio {ratio:.3}");
        assert!(
            ratio <= 0.4,
            "{am}: sq8 index is {ratio:.3}x the unquantized one"
        );
    }
}

#[test]
fn sq8_indexes_3072_dimensions() {
    let ds = Dataset::synthetic(3000, 3072, 50, 16, Metric::L2, 7, 10).unwrap();
    let c = Cluster::new("quant-3072", 5522, &["maintenance_work_mem = '512MB'"]).unwrap();
    let mut client = c.with_extension().unwrap();
    high_dimensions(&c, &mut client, &ds);
}

/// Settings of a primary whose standby replays every page change with
/// `wal_consistency_checking` (the 16,000-dimension tests).
const REPLAYED: &[&str] = &[
    "maintenance_work_mem = '512MB'",
    "wal_level = replica",
    "max_wal_senders = 4",
    "wal_consistency_checking = 'all'",
    "max_wal_size = 4GB",
];

/// 16,000 dimensions (the type's limit): sq8 codes longer than a page, split over code pages.
/// A streaming standby replays the build, inserts (new code pages) and inserts into slots that
/// VACUUM freed (parts overwritten in place) with `wal_consistency_checking = all`, and answers
/// like the primary.
#[test]
fn sq8_indexes_16000_dimensions_through_code_pages() {
    let ds = Dataset::synthetic(1500, 16000, 30, 12, Metric::L2, 11, 10).unwrap();
    let primary = Cluster::new("quant-16000", 5523, REPLAYED).unwrap();
    let mut client = primary.with_extension().unwrap();
    let standby = primary.standby("quant-16000-standby", 5524).unwrap();
    high_dimensions(&primary, &mut client, &ds);
    let stats: serde_json::Value = client
        .query_one("SELECT ruvector_index_stats('items_idx')::text", &[])
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap();
    assert_eq!(stats["code_parts"], 2, "{stats}");
    assert_eq!(stats["value_bytes_per_vector"], 16000.0, "{stats}");

    standby.wait_for_replay(&mut client).unwrap();
    let mut s = standby.connect("postgres").unwrap();
    let setup = "SET enable_seqscan = off; SET ruvector.ef_search = 40";
    let n = ds.queries.len();
    assert_eq!(
        top10_ids(&mut client, &ds, setup, n),
        top10_ids(&mut s, &ds, setup, n),
        "standby answers differ from the primary's"
    );
    let r = recall_at(
        &standby.conninfo("postgres"),
        "items",
        "items_idx",
        &ds,
        "ruvector.ef_search",
        40,
        ds.queries.len(),
    )
    .unwrap();
    assert!(r >= 0.95, "recall on the standby {r}");
}

/// A quantized index above pgvector's 2,000 dimensions: `sq8` recall@10 against exact
/// answers after the build, and again after a sixth of the rows were deleted, vacuumed and
/// inserted again (inserts into freed slots and new pages).
fn high_dimensions(c: &Cluster, client: &mut postgres::Client, ds: &Dataset) {
    let rows = ds.base.len();
    create_table(client, "items", ds.base.dim).unwrap();
    copy_rows(client, "items", ds, 0..rows).unwrap();
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_l2_ops)
               WITH (quantization = 'sq8')",
        )
        .unwrap();
    let url = c.conninfo("postgres");
    let queries = ds.queries.len();
    let recall = || {
        recall_at(
            &url,
            "items",
            "items_idx",
            ds,
            "ruvector.ef_search",
            40,
            queries,
        )
    };
    let r = recall().unwrap();
    eprintln!("{}-d sq8: recall@10 {r:.4} at ef_search 40", ds.base.dim);
    assert!(r >= 0.95, "recall {r}");
    // Rows inserted after the build are encoded with the build's codebook and found.
    let cut = rows - rows / 6;
    client
        .batch_execute(&format!("DELETE FROM items WHERE id >= {cut}"))
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    copy_rows(client, "items", ds, cut..rows).unwrap();
    let r = recall().unwrap();
    eprintln!(
        "{}-d sq8 after deleting, vacuuming and re-inserting {} rows: recall@10 {r:.4}",
        ds.base.dim,
        rows - cut
    );
    assert!(r >= 0.95, "recall after inserts {r}");
}

/// The search setting at which an index of the tests' tables reads every row.
const HNSW_ALL: &str = "ruvector.ef_search = 1000";

/// The 10 nearest rows of `table` to query `q` by `op` as (id, distance), through the index
/// (with the setting `all`, at which it reads every row) or a sequential scan. The query
/// vector is sent as `ruvector` and cast to the column's type.
fn nearest(
    client: &mut postgres::Client,
    (table, cast, op, all): (&str, &str, &str, &str),
    q: &[f32],
    index: bool,
) -> Vec<(i32, f64)> {
    let (seq, idx) = if index { ("off", "on") } else { ("on", "off") };
    client
        .batch_execute(&format!(
            "SET {all}; SET enable_seqscan = {seq}; \
             SET enable_indexscan = {idx}; SET enable_bitmapscan = off"
        ))
        .unwrap();
    let sql = format!(
        "SELECT id, (embedding {op} $1::ruvector{cast})::float8 FROM {table} \
         ORDER BY embedding {op} $1::ruvector{cast} LIMIT 10"
    );
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN (COSTS OFF) {sql}"), &[&VectorParam(q)])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        plan.join(" ").contains("Index Scan"),
        index,
        "{}",
        plan.join("\n")
    );
    let rows = client
        .query(&sql, &[&VectorParam(q)])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    client.batch_execute("RESET ALL").unwrap();
    rows
}

/// Asserts the index answers every query exactly as a sequential scan does: the same
/// distances in the same order (within float rounding: the index computes them over its own
/// copy of the values), the same ids but among rows tied at the last distance.
fn assert_index_is_exact(
    client: &mut postgres::Client,
    ds: &Dataset,
    (table, cast, op, all): (&str, &str, &str, &str),
    what: &str,
) {
    const TIE: f64 = 1e-4;
    for q in 0..ds.queries.len() {
        let v = ds.queries.row(q);
        let got = nearest(client, (table, cast, op, all), v, true);
        let exact = nearest(client, (table, cast, op, all), v, false);
        let close = |a: f64, b: f64| (a - b).abs() <= TIE * b.abs().max(1.0);
        let last = exact.last().map_or(f64::INFINITY, |e| e.1);
        let sure = |rows: &[(i32, f64)]| -> Vec<i32> {
            let mut ids: Vec<i32> = rows
                .iter()
                .filter(|r| !close(r.1, last))
                .map(|r| r.0)
                .collect();
            ids.sort();
            ids
        };
        assert!(
            got.len() == exact.len()
                && got.iter().zip(&exact).all(|(g, e)| close(g.1, e.1))
                && sure(&got) == sure(&exact),
            "{what}, query {q}: the index is not exact\n  index {got:?}\n  scan  {exact:?}"
        );
    }
}

/// The full-precision tests' tables: `items` (`ruvector(16000)`, the dataset's rows) and
/// `items_h` (the same as `halfvec(16000)`), indexed by `am` (`with`: its options) under L2 and
/// cosine.
fn two_tables(client: &mut postgres::Client, ds: &Dataset, am: &str, with: &str) {
    create_table(client, "items", ds.base.dim).unwrap();
    copy_rows(client, "items", ds, 0..ds.base.len()).unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE items_h (id int4 PRIMARY KEY, embedding halfvec(16000));
             INSERT INTO items_h SELECT id, embedding::halfvec(16000) FROM items;
             CREATE INDEX items_idx ON items USING {am} (embedding ruvector_l2_ops) {with};
             CREATE INDEX items_h_idx ON items_h USING {am} (embedding halfvec_cosine_ops) {with};
             ANALYZE items, items_h"
        ))
        .unwrap();
}

/// Deletes every sixth row of both tables and VACUUMs them (one statement per call: VACUUM
/// cannot run in the implicit transaction of a batch).
fn delete_every_sixth(client: &mut postgres::Client) {
    for sql in [
        "DELETE FROM items_h WHERE id % 6 = 0",
        "DELETE FROM items WHERE id % 6 = 0",
        "VACUUM items",
        "VACUUM items_h",
    ] {
        client.batch_execute(sql).unwrap();
    }
}

/// Inserts the rows [`delete_every_sixth`] deleted again.
fn insert_every_sixth(client: &mut postgres::Client, ds: &Dataset) {
    copy_rows(
        client,
        "items",
        ds,
        (0..ds.base.len()).filter(|i| i % 6 == 0),
    )
    .unwrap();
    client
        .batch_execute(
            "INSERT INTO items_h SELECT id, embedding::halfvec(16000) FROM items WHERE id % 6 = 0",
        )
        .unwrap();
}

/// Waits for `standby` to replay the full-precision tests' tables; asserts it answers the
/// queries as the primary does (after `setup`) and that both indexes check clean on it, and
/// returns a connection to it.
fn standby_agrees(
    client: &mut postgres::Client,
    standby: &Cluster,
    ds: &Dataset,
    setup: &str,
) -> postgres::Client {
    standby.wait_for_replay(client).unwrap();
    let mut s = standby.connect("postgres").unwrap();
    assert_eq!(
        top10_ids(client, ds, setup, ds.queries.len()),
        top10_ids(&mut s, ds, setup, ds.queries.len()),
        "standby answers differ from the primary's"
    );
    for index in ["items_idx", "items_h_idx"] {
        let report = s
            .query_one(
                &format!("SELECT ruvector_index_check('{index}')::text"),
                &[],
            )
            .unwrap()
            .get::<_, String>(0);
        assert!(
            report.contains("\"ok\": true"),
            "{index} on the standby: {report}"
        );
    }
    s
}

/// [`assert_index_is_exact`] for both tables of the full-precision tests (`all`: the setting
/// at which their indexes read every row).
fn assert_both_exact(client: &mut postgres::Client, ds: &Dataset, all: &str, when: &str) {
    assert_index_is_exact(
        client,
        ds,
        ("items", "", "<->", all),
        &format!("ruvector(16000) L2, {when}"),
    );
    assert_index_is_exact(
        client,
        ds,
        ("items_h", "::halfvec(16000)", "<=>", all),
        &format!("halfvec(16000) cosine, {when}"),
    );
}

/// Full precision past 2,000 dimensions: unquantized `ruhnsw` over `ruvector(16000)` (L2) and
/// `halfvec(16000)` (cosine), whose value images do not fit a page and are split over code
/// pages (8 and 4 per element: format version 4). Recall@10 against exact ground truth at
/// `ef_search` 40; at `ef_search` 1000 (more than the rows) the index answers exactly what a
/// sequential scan does. A sixth of the rows is deleted, vacuumed and inserted again (inserts
/// into freed slots overwrite the old parts over several WAL records, as one record holds 4
/// pages); a standby replays everything with `wal_consistency_checking = all`, answers like the
/// primary, and both indexes check clean on both.
#[test]
fn full_precision_16000_dimensions_through_code_pages() {
    let ds = Dataset::synthetic(1000, 16000, 20, 12, Metric::L2, 17, 10).unwrap();
    let rows = ds.base.len();
    let primary = Cluster::new("full-16000", 5650, REPLAYED).unwrap();
    let mut client = primary.with_extension().unwrap();
    let standby = primary.standby("full-16000-standby", 5651).unwrap();
    two_tables(&mut client, &ds, "ruhnsw", "");
    for (index, parts, bytes) in [("items_idx", 8, 64008.0), ("items_h_idx", 4, 32008.0)] {
        let s = index_stats(&mut client, index);
        println!("{index}: {s}");
        assert_eq!(s["format_version"], 4, "{s}");
        assert_eq!(s["quantization"], "none", "{s}");
        assert_eq!(s["code_parts"], parts, "{s}");
        assert_eq!(s["value_bytes_per_vector"], bytes, "{s}");
    }
    let url = primary.conninfo("postgres");
    let recall = || {
        recall_at(
            &url,
            "items",
            "items_idx",
            &ds,
            "ruvector.ef_search",
            40,
            20,
        )
    };
    let r = recall().unwrap();
    println!("16000-d full precision: recall@10 {r:.4} at ef_search 40");
    assert!(r >= 0.95, "recall {r}");
    assert_both_exact(&mut client, &ds, HNSW_ALL, "after the build");

    // Delete every sixth row, VACUUM, insert the rows again: mostly into the freed slots,
    // overwriting their parts (an element page with free space further on takes the rest).
    let gone = (0..rows).filter(|i| i % 6 == 0).count();
    let before = [
        index_stats(&mut client, "items_idx")["size_bytes"]
            .as_i64()
            .unwrap(),
        index_stats(&mut client, "items_h_idx")["size_bytes"]
            .as_i64()
            .unwrap(),
    ];
    delete_every_sixth(&mut client);
    for index in ["items_idx", "items_h_idx"] {
        let s = index_stats(&mut client, index);
        assert_eq!(s["deleted_elements"], gone as i64, "{s}");
    }
    insert_every_sixth(&mut client, &ds);
    for ((index, parts), before) in [("items_idx", 8), ("items_h_idx", 4)].iter().zip(before) {
        let s = index_stats(&mut client, index);
        println!("{index} after deleting, vacuuming and re-inserting {gone} rows: {s}");
        let grown = s["size_bytes"].as_i64().unwrap() - before;
        let fresh = (gone * (parts + 1) * 8192) as i64;
        assert!(
            grown < fresh / 10,
            "{index} grew by {grown} bytes; without reusing slots {gone} rows take {fresh}"
        );
    }
    let r = recall().unwrap();
    println!("16000-d full precision after the churn: recall@10 {r:.4} at ef_search 40");
    assert!(r >= 0.95, "recall after inserts {r}");
    assert_both_exact(&mut client, &ds, HNSW_ALL, "after the churn");
    for index in ["items_idx", "items_h_idx"] {
        assert_index_healthy(&mut client, index);
    }

    let mut s = standby_agrees(
        &mut client,
        &standby,
        &ds,
        "SET enable_seqscan = off; SET ruvector.ef_search = 40",
    );
    assert_index_is_exact(
        &mut s,
        &ds,
        ("items_h", "::halfvec(16000)", "<=>", HNSW_ALL),
        "on the standby",
    );
}

/// Full precision past 2,000 dimensions for `ruivfflat`: unquantized indexes over
/// `ruvector(16000)` (L2) and `halfvec(16000)` (cosine), whose centres and rows do not fit a
/// page and are stored as part items (format version 4). Recall@10 against exact ground truth
/// at a few probes; with every list probed the index answers exactly what a sequential scan
/// does. A sixth of the rows is deleted, vacuumed and inserted again: the parts go into the
/// space VACUUM freed, so the index hardly grows; a standby replays everything with
/// `wal_consistency_checking = all`, answers like the primary, and both indexes check clean.
#[test]
fn ivf_full_precision_16000_dimensions_in_parts() {
    const LISTS: usize = 10;
    let all = format!("ruvector.probes = {LISTS}");
    let ds = Dataset::synthetic(1000, 16000, 20, 12, Metric::L2, 19, 10).unwrap();
    let rows = ds.base.len();
    let primary = Cluster::new("ivf-full-16000", 5652, REPLAYED).unwrap();
    let mut client = primary.with_extension().unwrap();
    let standby = primary.standby("ivf-full-16000-standby", 5653).unwrap();
    two_tables(
        &mut client,
        &ds,
        "ruivfflat",
        &format!("WITH (lists = {LISTS})"),
    );
    for index in ["items_idx", "items_h_idx"] {
        let s = index_stats(&mut client, index);
        println!("{index}: {s}");
        assert_eq!(s["format_version"], 4, "{s}");
        assert_eq!(s["quantization"], "none", "{s}");
        assert_eq!(s["data_tuples_in_parts"], true, "{s}");
        assert_eq!(s["centres_in_parts"], true, "{s}");
        assert_eq!(s["tuples"], rows, "{s}");
        assert_eq!(s["empty_lists"], 0, "{s}");
    }
    let url = primary.conninfo("postgres");
    let recall = || recall_at(&url, "items", "items_idx", &ds, "ruvector.probes", 3, 20);
    let r = recall().unwrap();
    println!("16000-d ruivfflat full precision: recall@10 {r:.4} at 3 of {LISTS} probes");
    assert!(r >= 0.95, "recall {r}");
    assert_both_exact(&mut client, &ds, &all, "ruivfflat, after the build");

    // Delete every sixth row, VACUUM, insert the rows again.
    let gone = (0..rows).filter(|i| i % 6 == 0).count();
    let size = |client: &mut postgres::Client, index: &str| {
        index_stats(client, index)["size_bytes"].as_i64().unwrap()
    };
    let before = [
        size(&mut client, "items_idx"),
        size(&mut client, "items_h_idx"),
    ];
    delete_every_sixth(&mut client);
    for index in ["items_idx", "items_h_idx"] {
        let s = index_stats(&mut client, index);
        assert_eq!(s["tuples"], rows - gone, "{s}");
        assert_index_healthy(&mut client, index);
    }
    assert_both_exact(&mut client, &ds, &all, "ruivfflat, after VACUUM");
    insert_every_sixth(&mut client, &ds);
    for ((index, bytes), before) in [("items_idx", 64_016), ("items_h_idx", 32_016)]
        .iter()
        .zip(before)
    {
        let s = index_stats(&mut client, index);
        println!("{index} after deleting, vacuuming and re-inserting {gone} rows: {s}");
        assert_eq!(s["tuples"], rows, "{s}");
        let grown = s["size_bytes"].as_i64().unwrap() - before;
        let fresh = (gone * bytes) as i64;
        assert!(
            grown < fresh / 4,
            "{index} grew by {grown} bytes; without reusing the space freed {gone} rows take {fresh}"
        );
    }
    let r = recall().unwrap();
    println!("16000-d ruivfflat full precision after the churn: recall@10 {r:.4}");
    assert!(r >= 0.95, "recall after inserts {r}");
    assert_both_exact(&mut client, &ds, &all, "ruivfflat, after the churn");
    for index in ["items_idx", "items_h_idx"] {
        let report = assert_index_healthy(&mut client, index);
        assert_eq!(report["checked"]["unjoined_parts"], 0, "{report}");
    }

    let mut s = standby_agrees(
        &mut client,
        &standby,
        &ds,
        "SET enable_seqscan = off; SET ruvector.probes = 3",
    );
    assert_both_exact(&mut s, &ds, &all, "ruivfflat, on the standby");
}
