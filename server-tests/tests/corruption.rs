//! Damaged index pages, as a user's disk would damage them: the server is stopped, bytes of the
//! index's file are overwritten, the server is started again, and scans (plain, filtered,
//! iterative), inserts, deletes + VACUUM and `ruvector_index_stats` run on the index. Every
//! statement must either succeed or fail with SQLSTATE `XX001` (data corrupted) or `XX002`
//! (index corrupted) — never another error (a Rust panic reaches the user as `XX000`), never a
//! backend crash, never a hang (`statement_timeout`), and never a row that is not in the table
//! or fails the query's filter. `ruvector_index_check(idx, true)` runs first on each damaged
//! index (after checking clean before the damage): when it says `ok`, no later statement of
//! the trial may fail with a corruption error — damage the operations meet, the check finds.
//!
//! Each index kind gets trials of two sorts, on a fresh copy of the cluster each: random bytes
//! over 1–8 random pages (1–64 bytes each, anywhere on the page, headers included), and
//! adversarial values (0, 1, 0x7FFF, 0xFFFF, 0xFFFFFFFF) written over 2- and 4-byte fields at
//! random offsets — lengths, offsets, counts, block numbers. The trials are seeded: a failure
//! names its seed, and `RUVECTOR_CORRUPTION_SEED` repeats just that trial;
//! `RUVECTOR_CORRUPTION_TRIALS` runs more trials than the test command's 10 per kind.

use postgres::Client;
use ruvector_bench::dataset::Metric;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, glove};
use ruvector_server_tests::Rng;
use std::collections::{BTreeMap, BTreeSet};

const ROWS: usize = 3000;

fn trials() -> u64 {
    std::env::var("RUVECTOR_CORRUPTION_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

fn text(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// Damages `file` (an index's main fork of `pages` pages): returns what it did.
fn damage(file: &std::path::Path, pages: u64, rng: &mut Rng) -> String {
    let mut bytes = std::fs::read(file).unwrap();
    let mut did = Vec::new();
    if rng.below(2) == 0 {
        for _ in 0..1 + rng.below(8) {
            let page = rng.below(pages);
            let n = 1 + rng.below(64);
            for _ in 0..n {
                let at = (page * 8192 + rng.below(8192)) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
            did.push(format!("{n} random bytes on page {page}"));
        }
    } else {
        const VALUES: [u32; 5] = [0, 1, 0x7FFF, 0xFFFF, 0xFFFF_FFFF];
        for _ in 0..1 + rng.below(6) {
            let page = rng.below(pages);
            let v = VALUES[rng.below(VALUES.len() as u64) as usize];
            let wide = rng.below(2) == 0;
            let width = if wide { 4 } else { 2 };
            let at = ((page * 8192 + rng.below(8192 - width)) & !1) as usize;
            let le = v.to_le_bytes();
            bytes[at..at + width as usize].copy_from_slice(&le[..width as usize]);
            did.push(format!(
                "{v:#x} ({width} bytes) at page {page} offset {}",
                at % 8192
            ));
        }
    }
    std::fs::write(file, bytes).unwrap();
    did.join(", ")
}

/// Runs `sql` (`what` names it in failures); an error must be a corruption error. Returns the
/// rows on success.
fn statement(
    db: &mut Client,
    what: &str,
    sql: &str,
    failures: &mut Vec<String>,
    errors: &mut BTreeMap<String, usize>,
) -> Option<Vec<postgres::Row>> {
    match db.query(sql, &[]) {
        Ok(rows) => Some(rows),
        Err(e) => {
            let msg = e
                .as_db_error()
                .map_or(e.to_string(), |d| d.message().into());
            // Counted by SQLSTATE and the first words of the DETAIL (or message).
            let detail = e
                .as_db_error()
                .and_then(|d| d.detail())
                .unwrap_or(&msg)
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            let code = e.code().map_or("none", |c| c.code());
            *errors.entry(format!("{code} {detail}")).or_default() += 1;
            match e.code().map(|c| c.code()) {
                // ruvector's own reports name the index: `index "idx" is corrupted` (or, for a
                // meta page damaged into another format version, that version's error).
                Some("XX002") if !msg.starts_with("index \"idx\" ") => {
                    failures.push(format!("{what}: XX002 without the index's name: {msg}"));
                }
                Some("XX001") | Some("XX002") => {}
                code => failures.push(format!("{what}: SQLSTATE {code:?}: {msg}")),
            }
            None
        }
    }
}

/// One kind of index: its definition, whether it has the `category` key column, and the
/// settings its scans use.
struct Kind {
    name: &'static str,
    index: &'static str,
    settings: &'static str,
}

const KINDS: [Kind; 5] = [
    Kind {
        name: "ruhnsw",
        index: "USING ruhnsw (embedding ruvector_cosine_ops)",
        settings: "SET ruvector.hnsw_iterative_scan = relaxed_order",
    },
    Kind {
        name: "ruhnsw sq8",
        index: "USING ruhnsw (embedding ruvector_cosine_ops) WITH (quantization = 'sq8')",
        settings: "SET ruvector.hnsw_iterative_scan = relaxed_order",
    },
    Kind {
        name: "ruhnsw with a key column",
        index: "USING ruhnsw (embedding ruvector_cosine_ops, category)",
        settings: "SET ruvector.hnsw_iterative_scan = strict_order",
    },
    Kind {
        name: "ruivfflat",
        index: "USING ruivfflat (embedding ruvector_cosine_ops) WITH (lists = 20)",
        settings: "SET ruvector.probes = 4; SET ruvector.ivfflat_iterative_scan = relaxed_order",
    },
    Kind {
        name: "ruivfflat sq8 with a key column",
        index: "USING ruivfflat (embedding ruvector_cosine_ops, category) \
                WITH (lists = 20, quantization = 'sq8')",
        settings: "SET ruvector.probes = 4",
    },
];

fn run_kind(kind: &Kind, port: u16) -> Vec<String> {
    let ds = glove(Metric::Cosine);
    let base = Cluster::new(
        &format!("corrupt-{port}"),
        port,
        // With data checksums (PostgreSQL 18's initdb default) the buffer manager would catch
        // most damage first; the index's own checks are what this test is about.
        &["ignore_checksum_failure = on", "autovacuum = off"],
    )
    .unwrap();
    let mut db = base.with_extension().unwrap();
    db.batch_execute(
        "CREATE TABLE items (id int4 PRIMARY KEY, embedding ruvector(50), category int4)",
    )
    .unwrap();
    let mut staging = base.connect("postgres").unwrap();
    staging
        .batch_execute("CREATE TEMP TABLE s (id int4, embedding ruvector(50))")
        .unwrap();
    copy_rows(&mut staging, "s", &ds, 0..ROWS).unwrap();
    staging
        .batch_execute("INSERT INTO items SELECT id, embedding, id % 4 FROM s")
        .unwrap();
    drop(staging);
    db.batch_execute(&format!(
        "CREATE INDEX idx ON items {}; CHECKPOINT",
        kind.index
    ))
    .unwrap();
    if kind.index.starts_with("USING ruhnsw") && kind.index.contains("category") {
        // Four categories of 750 rows each: the column gets key links, damaged like the rest.
        let linked: String = db
            .query_one(
                "SELECT (ruvector_index_stats('idx') -> 'key_link_columns')::text",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(linked, "[1]");
    }
    let file: String = db
        .query_one("SELECT pg_relation_filepath('idx')", &[])
        .unwrap()
        .get(0);
    let pages: i64 = db
        .query_one("SELECT pg_relation_size('idx') / 8192", &[])
        .unwrap()
        .get(0);
    // The undamaged index checks clean, every row found.
    let report: serde_json::Value = db
        .query_one("SELECT ruvector_index_check('idx', true)::text", &[])
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
        .unwrap();
    assert_eq!(report["ok"], true, "{}: {report}", kind.name);
    assert_eq!(report["heapallindexed"]["missing"], 0, "{report}");
    assert_eq!(report["heapallindexed"]["table_rows"], ROWS, "{report}");
    drop(db);
    base.stop().unwrap();

    let only: Option<u64> = std::env::var("RUVECTOR_CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok());
    let mut failures = Vec::new();
    let mut errors = BTreeMap::new();
    // What ruvector_index_check said of the damaged indexes: ok, problems, or an error.
    let mut checks: BTreeMap<&str, usize> = BTreeMap::new();
    let trials = trials();
    for trial in 0..trials {
        let seed = port as u64 * 100_000 + trial;
        if only.is_some_and(|s| s != seed) {
            continue;
        }
        let mut rng = Rng(seed);
        let c = base
            .copy_to(&format!("corrupt-{port}-trial"), port + 1)
            .unwrap();
        let did = damage(&c.dir.join(&file), pages as u64, &mut rng);
        c.start().unwrap();
        let mut db = c.connect("postgres").unwrap();
        db.batch_execute(&format!(
            "SET statement_timeout = '20s'; SET enable_seqscan = off; SET enable_bitmapscan = off; {}",
            kind.settings
        ))
        .unwrap();
        let mut trial_failures = Vec::new();
        // The check first, on the damaged index as it is: it must report the damage (or stop
        // at it with a corruption error) whenever anything below does.
        let verdict = statement(
            &mut db,
            "ruvector_index_check",
            "SELECT ruvector_index_check('idx', true)::text",
            &mut trial_failures,
            &mut errors,
        )
        .map(|rows| serde_json::from_str::<serde_json::Value>(rows[0].get(0)).unwrap());
        let check_ok = verdict.as_ref().is_some_and(|v| v["ok"] == true);
        *checks
            .entry(if verdict.is_none() {
                "error"
            } else if check_ok {
                "ok"
            } else {
                "problems"
            })
            .or_default() += 1;
        let errors_before = errors.values().sum::<usize>();
        for q in 0..4 {
            let v = text(ds.queries.row(q));
            for filter in [None, Some(q as i32 % 4)] {
                let cond = filter.map_or(String::new(), |c| format!("WHERE category = {c}"));
                let sql = format!(
                    "SELECT id, category FROM items {cond} ORDER BY embedding <=> '{v}' LIMIT 10"
                );
                let what = format!("kNN query {q} {cond}");
                let Some(rows) = statement(&mut db, &what, &sql, &mut trial_failures, &mut errors)
                else {
                    continue;
                };
                for r in rows {
                    let (id, category): (i32, i32) = (r.get(0), r.get(1));
                    if !(0..ROWS as i32 + 100).contains(&id) || category != id % 4 {
                        trial_failures.push(format!("{what}: row {id} is not in the table"));
                    }
                    if filter.is_some_and(|c| c != category) {
                        trial_failures.push(format!(
                            "{what}: row {id} (category {category}) fails the filter"
                        ));
                    }
                }
            }
        }
        let inserted: Vec<String> = (ROWS..ROWS + 20)
            .map(|i| format!("({i}, '{}', {})", text(ds.base.row(i)), i % 4))
            .collect();
        for (what, sql) in [
            (
                "INSERT",
                format!("INSERT INTO items VALUES {}", inserted.join(", ")),
            ),
            ("DELETE", "DELETE FROM items WHERE id % 7 = 0".to_string()),
            ("VACUUM", "VACUUM items".to_string()),
            (
                "stats",
                "SELECT ruvector_index_stats('idx')::text".to_string(),
            ),
            (
                "kNN query after VACUUM",
                format!(
                    "SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <=> '{}' \
                     LIMIT 10) s",
                    text(ds.queries.row(9))
                ),
            ),
        ] {
            statement(&mut db, what, &sql, &mut trial_failures, &mut errors);
        }
        if check_ok && errors.values().sum::<usize>() > errors_before {
            trial_failures.push(format!(
                "ruvector_index_check found nothing wrong, then statements failed: {}",
                verdict.unwrap()
            ));
        }
        drop(db);
        let crashed = c.log_contains("terminated by signal") || c.log_contains("PANIC");
        c.stop().ok();
        if crashed {
            trial_failures.push(format!("the server crashed: {}", c.log_tail()));
        }
        for f in trial_failures {
            failures.push(format!("{} (seed {seed}: {did}): {f}", kind.name));
        }
    }
    println!(
        "{}: {trials} trials over {pages} pages, {} wrong outcomes; check: {checks:?}; errors: \
         {errors:?}",
        kind.name,
        failures.len()
    );
    failures
}

fn check(kind: usize, port: u16) {
    let failures = run_kind(&KINDS[kind], port);
    let distinct: BTreeSet<&String> = failures.iter().collect();
    assert!(
        failures.is_empty(),
        "{} wrong outcomes:\n{}",
        failures.len(),
        distinct.into_iter().cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn damaged_ruhnsw_pages() {
    check(0, 5571);
}

#[test]
fn damaged_ruhnsw_sq8_pages() {
    check(1, 5573);
}

#[test]
fn damaged_ruhnsw_pages_with_key_columns() {
    check(2, 5575);
}

#[test]
fn damaged_ruivfflat_pages() {
    check(3, 5577);
}

#[test]
fn damaged_ruivfflat_sq8_pages_with_key_columns() {
    check(4, 5579);
}
