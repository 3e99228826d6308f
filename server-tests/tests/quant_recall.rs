//! Quantized indexes on real data and at high dimensions:
//! * minilm-384-50k (384-d sentence embeddings, cosine): `sq8` indexes of both access methods
//!   reach recall@10 ≥ 0.95 at 0.4× the size of the unquantized index or less;
//! * a 3072-dimension table (synthetic, clustered) — above the 2,000 dimensions an unquantized
//!   index takes — indexed by `ruhnsw` with `sq8`, recall checked against exact ground truth.

use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, create_table, data_dir, recall_at};

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
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", &ds, 0..ds.base.len()).unwrap();
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
    let r = recall_at(
        &url,
        "items",
        "items_idx",
        &ds,
        "ruvector.ef_search",
        40,
        50,
    )
    .unwrap();
    eprintln!("3072-d sq8: recall@10 {r:.4} at ef_search 40");
    assert!(r >= 0.95, "recall {r}");
    // Rows inserted after the build are encoded with the build's codebook and found.
    client
        .batch_execute("DELETE FROM items WHERE id >= 2500")
        .unwrap();
    copy_rows(&mut client, "items", &ds, 2500..3000).unwrap();
    let r = recall_at(
        &url,
        "items",
        "items_idx",
        &ds,
        "ruvector.ef_search",
        40,
        50,
    )
    .unwrap();
    eprintln!("3072-d sq8 after re-inserting 500 rows: recall@10 {r:.4}");
    assert!(r >= 0.95, "recall after inserts {r}");
}
