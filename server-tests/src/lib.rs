//! Harness for the tests in `tests/` that need whole PostgreSQL servers (the extension must be
//! installed into that PostgreSQL first; `scripts/test.sh` does it):
//!
//! * `cluster` — throw-away clusters: start/stop, `kill -9`, streaming standbys, pgbench;
//! * `data` — the GloVe set loaded with binary COPY, and recall@10 against exact ground truth.
//!
//! Each test starts its own cluster on its own port; run them one at a time
//! (`--test-threads=1`) on small machines.

pub mod catalog;
pub mod cluster;
pub mod data;
pub mod fixture;

use std::sync::{Arc, Mutex};

/// A client whose server NOTICEs are collected (e.g. the over-memory build notice).
pub fn connect_collecting_notices(
    conninfo: &str,
) -> anyhow::Result<(postgres::Client, Arc<Mutex<Vec<String>>>)> {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let sink = notices.clone();
    let mut config: postgres::Config = conninfo.parse()?;
    config.notice_callback(move |n| sink.lock().unwrap().push(n.message().to_string()));
    Ok((config.connect(postgres::NoTls)?, notices))
}

/// Asserts `measured >= min`, printing the measurement either way (visible with
/// `--nocapture`), so the log shows how far above its gate each figure is.
pub fn gate(what: &str, measured: f64, min: f64) {
    println!("{what}: {measured:.4} (gate {min})");
    assert!(
        measured >= min,
        "{what}: {measured:.4} is below the gate {min}"
    );
}

/// `ruvector_index_check(index, true)`'s report, asserted healthy: no problems, every row of
/// the table found. Returns the report (its warnings and counts are the caller's to judge).
pub fn assert_index_healthy(client: &mut postgres::Client, index: &str) -> serde_json::Value {
    let text: String = client
        .query_one(
            &format!("SELECT ruvector_index_check('{index}', true)::text"),
            &[],
        )
        .unwrap()
        .get(0);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["ok"], true, "{index} is not healthy: {report}");
    assert_eq!(report["heapallindexed"]["missing"], 0, "{report}");
    report
}

/// A pgbench script (one line) that fails its transaction, with the report in the error, when
/// `ruvector_index_check(index, true)` finds a problem: run beside writers, it shows the
/// check sees no damage in an index that concurrent inserts, deletes and VACUUM are changing.
pub fn pgbench_check_script(index: &str) -> String {
    format!(
        "DO $$ DECLARE r jsonb := ruvector_index_check('{index}', true); BEGIN \
         IF NOT (r ->> 'ok')::bool THEN RAISE EXCEPTION 'ruvector_index_check: %', r; END IF; \
         END $$;\n"
    )
}
