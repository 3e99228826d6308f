//! Test data on the server: the GloVe set from `../shared/data`, loaded with binary COPY, and
//! recall@10 of index scans against its exact ground truth — measured with the benchmark
//! tool's own code (`ruvector_bench`), so tests and README numbers mean the same thing.

use anyhow::{Context, Result};
use postgres::Client;
use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_bench::sweep::Measure;
use ruvector_bench::wire::{CopyRows, VectorParam};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

/// `../shared/data/<name>` next to the repository (`RUVECTOR_DATA` overrides the directory).
pub fn data_dir(name: &str) -> PathBuf {
    let base = std::env::var("RUVECTOR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    base.join(name)
}

/// glove-100k (50-d, 100k rows, 1000 queries) with ground truth for `metric`.
pub fn glove(metric: Metric) -> Dataset {
    let dir = data_dir("glove-100k");
    Dataset::texmex(&dir, metric, None, None, 10).unwrap_or_else(|e| {
        panic!(
            "{e:#}\nThe recall tests need the GloVe set at {} (../shared/data/glove-100k next \
             to the project, or RUVECTOR_DATA)",
            dir.display()
        )
    })
}

/// Creates `table (id int4 primary key, embedding ruvector(dim))`.
pub fn create_table(client: &mut Client, table: &str, dim: usize) -> Result<()> {
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int4 PRIMARY KEY, embedding ruvector({dim}))"
    ))?;
    Ok(())
}

/// Binary-COPYs base rows `rows` of the dataset (id = row number).
pub fn copy_rows(
    client: &mut Client,
    table: &str,
    ds: &Dataset,
    rows: impl Iterator<Item = usize>,
) -> Result<()> {
    let mut w = client.copy_in(&format!(
        "COPY {table} (id, embedding) FROM STDIN (FORMAT BINARY)"
    ))?;
    let mut c = CopyRows::new();
    for i in rows {
        c.row(i as i32, ds.base.row(i));
        if c.len() > 1 << 20 {
            w.write_all(&c.take())?;
        }
    }
    w.write_all(&c.finish())?;
    w.finish().context("binary COPY failed")?;
    Ok(())
}

/// Recall@10 of index scans on `table` at `ef_search`, over the dataset's first `queries`
/// queries. Fails if the planner does not use `index`.
pub fn recall(
    conninfo: &str,
    table: &str,
    index: &str,
    ds: &Dataset,
    ef_search: i64,
    queries: usize,
) -> Result<f64> {
    recall_at(
        conninfo,
        table,
        index,
        ds,
        "ruvector.ef_search",
        ef_search,
        queries,
    )
}

/// Recall@10 of index scans on `table` with the search GUC `guc` (`ruvector.ef_search`,
/// `ruvector.probes`) set to `value`, over the dataset's first `queries` queries. Fails if
/// the planner does not use `index`.
pub fn recall_at(
    conninfo: &str,
    table: &str,
    index: &str,
    ds: &Dataset,
    guc: &str,
    value: i64,
    queries: usize,
) -> Result<f64> {
    let ef_search = value;
    let m = Measure {
        config: conninfo.parse()?,
        // The index is what is measured: on small tables the planner may rather sort a
        // sequential scan.
        setup: vec![
            format!("SET {guc} = {value}"),
            "SET enable_seqscan = off".to_string(),
        ],
        sql: format!(
            "SELECT id FROM {table} ORDER BY embedding {} $1 LIMIT 10",
            ds.metric.operator()
        ),
        dataset: ds,
        queries,
        k: 10,
        clients: 1,
        index: Some(index.to_string()),
    };
    m.check_plan()?;
    let p = m.run(Some(ef_search), &indicatif::ProgressBar::hidden())?;
    Ok(p.recall)
}

/// Exact ground truth recomputed over a subset of base rows (after deletes), in row numbers.
pub fn truth_over(ds: &Dataset, rows: &[usize], metric: Metric) -> Vec<Vec<u32>> {
    let mut sub = ruvector_bench::dataset::Vectors {
        dim: ds.base.dim,
        data: Vec::with_capacity(rows.len() * ds.base.dim),
    };
    for &r in rows {
        sub.data.extend_from_slice(ds.base.row(r));
    }
    ruvector_bench::dataset::exact_neighbours(&sub, &ds.queries, metric, 10)
        .into_iter()
        .map(|t| t.into_iter().map(|i| rows[i as usize] as u32).collect())
        .collect()
}

/// Loads rows 20,000.. of `ds` into `items` in committed batches of 5,000 from another
/// connection, and `kill -9`s the server while a batch is in flight — once at least 30,000 rows
/// are visible, plus `settle` for the next batch to get under way. Returns the batches whose
/// commit was acknowledged (fewer than 16: the crash came before the whole load).
///
/// The batch in flight may still have committed: its commit record can reach WAL (and so
/// survive) while the kill beats the acknowledgement to the client. [`recovered_rows`] checks
/// the table against that.
pub fn crash_during_bulk_load(
    c: &crate::cluster::Cluster,
    client: &mut Client,
    ds: &Dataset,
    settle: std::time::Duration,
) -> usize {
    use std::time::{Duration, Instant};
    let conninfo = c.conninfo("postgres");
    let loader = {
        let ds = ds.clone();
        std::thread::spawn(move || {
            let mut w = Client::connect(&conninfo, postgres::NoTls).unwrap();
            let mut committed = 0;
            for b in 0..16 {
                let start = 20_000 + b * 5000;
                if copy_rows(&mut w, "items", &ds, start..start + 5000).is_err() {
                    break;
                }
                committed += 1;
            }
            committed
        })
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n: i64 = client
            .query_one("SELECT count(*) FROM items", &[])
            .unwrap()
            .get(0);
        if n >= 30_000 {
            break;
        }
        assert!(Instant::now() < deadline, "bulk insert made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(settle);
    c.kill9().unwrap();
    let committed = loader.join().unwrap();
    assert!(committed < 16, "the crash came after the whole load");
    committed
}

/// After recovery from [`crash_during_bulk_load`]: every acknowledged batch is in `table` and
/// the batch in flight is there wholly or not at all (commit is atomic). Returns the number of
/// rows, i.e. the first id not loaded.
pub fn recovered_rows(table: &BTreeSet<i32>, acknowledged: usize) -> usize {
    let rows = table.len();
    let ack = 20_000 + acknowledged * 5000;
    assert!(
        rows == ack || rows == ack + 5000,
        "{rows} rows after recovery; {acknowledged} batches were acknowledged, so {ack} \
         (or {} if the batch in flight committed unacknowledged)",
        ack + 5000
    );
    assert!(
        table.iter().copied().eq(0..rows as i32),
        "the recovered rows are not ids 0..{rows}: a batch survived in part"
    );
    rows
}

/// Top-10 ids of `items` for the first `n` queries of `ds`, after `setup` (the SET statements
/// that choose the scan and its search setting).
pub fn top10_ids(client: &mut Client, ds: &Dataset, setup: &str, n: usize) -> Vec<Vec<i32>> {
    client.batch_execute(setup).unwrap();
    let stmt = client
        .prepare(&format!(
            "SELECT id FROM items ORDER BY embedding {} $1 LIMIT 10",
            ds.metric.operator()
        ))
        .unwrap();
    (0..n)
        .map(|q| {
            client
                .query(&stmt, &[&VectorParam(ds.queries.row(q))])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        })
        .collect()
}

/// Asserts that PostgreSQL plans `sql` (with `params`) as an index scan of `index`.
pub fn assert_index_scan(
    client: &mut Client,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    index: &str,
) {
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN (COSTS OFF) {sql}"), params)
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter()
            .any(|l| l.contains(&format!("Index Scan using {index}"))),
        "{plan:?}"
    );
}

/// Every row of `table` (int4 `id`, `embedding` under cosine) a ruhnsw index scan through
/// `index` reaches, walking the whole graph (iterative scan, no limits).
pub fn hnsw_ids_through_index(
    client: &mut Client,
    table: &str,
    index: &str,
    query: &[f32],
) -> BTreeSet<i32> {
    client
        .batch_execute(
            "SET enable_seqscan = off; SET enable_bitmapscan = off;
             SET ruvector.hnsw_iterative_scan = relaxed_order;
             SET ruvector.hnsw_max_scan_tuples = 100000000;
             SET work_mem = '256MB'",
        )
        .unwrap();
    let sql = format!("SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT 100000000");
    assert_index_scan(client, &sql, &[&VectorParam(query)], index);
    let ids = client
        .query(&sql, &[&VectorParam(query)])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    client
        .batch_execute(
            "RESET enable_seqscan; RESET enable_bitmapscan; RESET ruvector.hnsw_iterative_scan;
             RESET ruvector.hnsw_max_scan_tuples; RESET work_mem",
        )
        .unwrap();
    ids
}

/// The ids of `table` (int4 `id`).
pub fn ids_in_table(client: &mut Client, table: &str) -> BTreeSet<i32> {
    client
        .query(&format!("SELECT id FROM {table}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}
