//! Quantized indexes on real data and at high dimensions:
//! * minilm-384-50k (384-d sentence embeddings, cosine): `sq8` indexes of both access methods
//!   reach recall@10 ≥ 0.95 at 0.4× the size of the unquantized index or less;
//! * 3072- and 16,000-dimension tables (synthetic, clustered) — above the 2,000 dimensions an
//!   unquantized index takes — indexed by `ruhnsw` with `sq8`, recall checked against exact
//!   ground truth; at 16,000 the codes span pages, and a standby replays it all.

use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, create_table, data_dir, recall_at, top10_ids};

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

/// 16,000 dimensions (the type's limit): sq8 codes longer than a page, split over code pages.
/// A streaming standby replays the build, inserts (new code pages) and inserts into slots that
/// VACUUM freed (parts overwritten in place) with `wal_consistency_checking = all`, and answers
/// like the primary.
#[test]
fn sq8_indexes_16000_dimensions_through_code_pages() {
    let ds = Dataset::synthetic(1500, 16000, 30, 12, Metric::L2, 11, 10).unwrap();
    let primary = Cluster::new(
        "quant-16000",
        5523,
        &[
            "maintenance_work_mem = '512MB'",
            "wal_level = replica",
            "max_wal_senders = 4",
            "wal_consistency_checking = 'all'",
            "max_wal_size = 4GB",
        ],
    )
    .unwrap();
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

/// A quantized index above the 2,000 dimensions an unquantized one takes: `sq8` recall@10
/// against exact answers after the build, and again after a sixth of the rows were deleted,
/// vacuumed and inserted again (inserts into freed slots and new pages).
fn high_dimensions(c: &Cluster, client: &mut postgres::Client, ds: &Dataset) {
    let rows = ds.base.len();
    create_table(client, "items", ds.base.dim).unwrap();
    copy_rows(client, "items", ds, 0..rows).unwrap();
    // Unquantized, the element would not fit a page (pgvector's limit and message).
    let err = client
        .batch_execute("CREATE INDEX ON items USING ruhnsw (embedding ruvector_l2_ops)")
        .unwrap_err();
    assert!(
        err.as_db_error()
            .map(|e| e.message().to_string())
            .unwrap_or_default()
            .contains("column cannot have more than 2000 dimensions for ruhnsw index"),
        "{err}"
    );
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
