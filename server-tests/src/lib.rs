//! Harness for the tests in `tests/` that need whole PostgreSQL servers (the extension must be
//! installed into that PostgreSQL first; `scripts/test.sh` does it):
//!
//! * `cluster` — throw-away clusters: start/stop, `kill -9`, streaming standbys, pgbench;
//! * `data` — the GloVe set loaded with binary COPY, and recall@10 against exact ground truth;
//! * `pages` — items and TIDs of index pages in a stopped cluster's files (damage tests).
//!
//! Each test starts its own cluster on its own port; run them one at a time
//! (`--test-threads=1`) on small machines.

pub mod catalog;
pub mod cluster;
pub mod data;
pub mod fixture;
pub mod pages;

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

/// `ruvector_index_stats(index)` as JSON.
pub fn index_stats(client: &mut postgres::Client, index: &str) -> serde_json::Value {
    client
        .query_one(
            &format!("SELECT ruvector_index_stats('{index}')::text"),
            &[],
        )
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap()
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

/// Runs pgbench on cluster `c` with `scripts` (file name, body, weight) on `clients` clients
/// for `seconds`, plus, at weight 1 each, a check of `index` with `ruvector_index_check` (a
/// check that reports a problem fails its transaction: the check must see no damage in an
/// index the other clients are changing) and `ruvector_index_maintenance`. Asserts pgbench did
/// work, without a failed transaction or a crashed backend; returns its report.
pub fn pgbench_mix(
    c: &cluster::Cluster,
    index: &str,
    scripts: &[(&str, &str, u32)],
    clients: u32,
    seconds: u32,
) -> String {
    let dir = c.dir.join("pgbench");
    std::fs::create_dir_all(&dir).unwrap();
    let (clients, seconds) = (clients.to_string(), seconds.to_string());
    let mut args: Vec<String> = ["-n", "-c", &clients, "-j", "2", "-T", &seconds]
        .into_iter()
        .map(String::from)
        .collect();
    let check = pgbench_check_script(index);
    let maintain = format!("SELECT ruvector_index_maintenance('{index}');\n");
    let all = scripts.iter().copied().chain([
        ("check.sql", check.as_str(), 1),
        ("maintain.sql", &maintain, 1),
    ]);
    for (name, body, weight) in all {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        args.push("-f".into());
        args.push(format!("{}@{weight}", path.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.pgbench("postgres", &args).unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{report}");
    let processed = report
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .expect("pgbench report");
    assert!(processed > 100, "pgbench did almost nothing: {report}");
    assert!(
        report.contains("number of failed transactions: 0"),
        "pgbench saw failures: {report}"
    );
    assert!(
        !c.log_contains("PANIC") && !c.log_contains("server process"),
        "{}",
        c.log_tail()
    );
    report
}

/// SplitMix64: a small seeded generator for reproducible randomised tests (no dependency).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (up to the modulo bias, irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
