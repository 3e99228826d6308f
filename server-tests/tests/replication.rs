//! Beyond one server: the ruvector types and indexes under PostgreSQL's two kinds of
//! replication.
//!
//! * **Logical replication.** A publisher and a subscriber cluster; a table per type
//!   (`ruvector(50)`, `halfvec(50)`, `sparsevec(50)`: GloVe rows, the sparse ones their 10
//!   largest-magnitude coordinates), created on both sides, the subscriber's databases with
//!   indexes of their own. One database subscribes in text (the types' input/output functions),
//!   the other `WITH (binary = true)` (their send/receive functions). After the initial sync
//!   and streamed INSERTs, UPDATEs (new vectors, and other columns only), DELETEs and
//!   re-INSERTs of deleted ids, with a VACUUM of the subscriber in between, every row is
//!   byte-identical on both sides (text output and binary send), and the subscriber's indexes
//!   check clean and answer k-NN queries as the publisher's sequential scan: exactly for
//!   `ruivfflat` probing every list, with recall@10 ≥ 0.99 for `ruhnsw` at ef_search 1000
//!   (HNSW stays approximate there; the test prints how many answers were exact).
//! * **Hot standby reads.** A primary and two streaming standbys (`hot_standby_feedback` off),
//!   one with the default `max_standby_streaming_delay` (replay waits for queries) and one with
//!   0 (queries in the way of replay are cancelled at once). Readers run k-NN index scans on
//!   both standbys, each in a REPEATABLE READ transaction between two `count(*)`s, while the
//!   primary inserts, updates, deletes and VACUUMs; the only errors allowed are recovery
//!   conflicts, which are retried, and every answer is 10 rows seen by a consistent snapshot.
//!   Afterwards each standby's index answers exactly as the primary's (the same pages) and,
//!   against the primary's sequential scan, with recall@10 ≥ 0.99, and checks clean. Queries
//!   per second are printed, never asserted (all servers share the machine's cores).

use postgres::{Client, IsolationLevel};
use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::assert_index_healthy;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{assert_index_scan, copy_rows, glove};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// One k-NN answer: (id, distance), nearest first.
type Knn = Vec<(i32, f64)>;

fn knn(client: &mut Client, sql: &str, q: &[f32]) -> Knn {
    client
        .query(sql, &[&VectorParam(q)])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Compares an index's answer `got` with the exact answer `want` (a sequential scan's), both
/// nearest first. Asserts what any answer must be: as many rows, distinct, nearest first.
/// Returns whether it is the exact answer — the same distances position by position and the
/// same ids, except that rows tied at one distance may come in any order and, at the last
/// distance, may be any of the tied rows — and how many of the exact answer's rows it holds
/// (a row tied with the last one counts).
fn knn_match(want: &Knn, got: &Knn, what: &str) -> (bool, usize) {
    let show = || format!("{what}:\n  expected {want:?}\n  got      {got:?}");
    assert_eq!(want.len(), got.len(), "{}", show());
    assert!(
        got.windows(2).all(|w| w[0].1 <= w[1].1),
        "not nearest first: {}",
        show()
    );
    let mut ids: Vec<i32> = got.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "a row twice: {}", show());
    let last = want.last().map_or(f64::INFINITY, |r| r.1);
    let found = got
        .iter()
        .filter(|g| g.1 == last || want.iter().any(|w| w.0 == g.0))
        .count();
    let mut exact = want.iter().zip(got).all(|(w, g)| w.1 == g.1);
    let mut start = 0;
    while exact && start < want.len() {
        let mut end = start + 1;
        while end < want.len() && want[end].1 == want[start].1 {
            end += 1;
        }
        if end < want.len() {
            let mut w: Vec<i32> = want[start..end].iter().map(|r| r.0).collect();
            let mut g: Vec<i32> = got[start..end].iter().map(|r| r.0).collect();
            w.sort_unstable();
            g.sort_unstable();
            exact = w == g;
        }
        start = end;
    }
    (exact, found.min(want.len()))
}

/// Compares an index's answers with the exact ones (see [`knn_match`]) and prints how close
/// they are. With `exact`, every answer must be the exact one (an IVF scan of every list);
/// otherwise (an HNSW search, approximate even at ef_search 1000: HNSW graphs can leave a row
/// reachable only through far-away elements) recall@10 must reach `min_recall`.
fn check_answers(want: &[Knn], got: &[Knn], what: &str, exact: bool) {
    let (mut same, mut found, mut total) = (0, 0, 0);
    for (q, (w, g)) in want.iter().zip(got).enumerate() {
        let (e, f) = knn_match(w, g, &format!("{what} query {q}"));
        assert!(
            e || !exact,
            "{what} query {q} is not the exact answer:\n  expected {w:?}\n  got      {g:?}"
        );
        same += e as usize;
        found += f;
        total += w.len();
    }
    let recall = found as f64 / total as f64;
    println!(
        "{what}: {same}/{} answers exact, recall@10 {recall:.4}",
        want.len()
    );
    assert!(
        recall >= MIN_RECALL,
        "{what}: recall@10 {recall:.4} is below {MIN_RECALL}"
    );
}

/// Recall@10 a ruhnsw index must reach at ef_search 1000 against the sequential scan (measured
/// 0.998–1.0 here: a fresh build over the sparse rows leaves one of them reachable only late).
const MIN_RECALL: f64 = 0.99;

fn sql_count(client: &mut Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// Polls `cond` every 100 ms until it holds; panics with `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// No crash, PANIC or failed page check in a server's log.
fn assert_log_clean(c: &Cluster) {
    for bad in [
        "PANIC",
        "terminated by signal",
        "inconsistent page",
        "was terminated by exception",
    ] {
        assert!(!c.log_contains(bad), "{bad:?} in the log\n{}", c.log_tail());
    }
}

// ---------------------------------------------------------------------------------------------
// Logical replication
// ---------------------------------------------------------------------------------------------

/// GloVe rows in each published table at the start.
const ROWS: i32 = 5_000;
/// Rows of `src`, the publisher's unpublished pool of values: ids `ROWS..` are inserted,
/// `id + UPDATE_SHIFT` become updated vectors, `REINSERT_BASE + id` re-inserted ones.
const SRC_ROWS: usize = 35_000;
const UPDATE_SHIFT: i32 = 20_000;
const REINSERT_BASE: i32 = 30_000;
/// Rows each round inserts into each table.
const INSERTS_PER_ROUND: i32 = 50;
/// Rounds of streamed changes before the subscriber's VACUUM, and after it.
const ROUNDS: i32 = 4;
/// `lists` of the subscriber's `ruivfflat` index: a scan with `probes` = lists reads them all.
const LISTS: i32 = 40;
/// k-NN queries compared per index.
const QUERIES: usize = 50;

/// A published table.
struct Published {
    table: &'static str,
    column: &'static str,
    /// The table's value made of row `s` of `src`.
    from_src: &'static str,
    /// The type's binary send function.
    send: &'static str,
    /// A query `$1` (a `ruvector`) as a value of the column's type.
    query: &'static str,
}

const TABLES: &[Published] = &[
    Published {
        table: "vec_items",
        column: "ruvector(50)",
        from_src: "s.embedding",
        send: "ruvector_send",
        query: "$1",
    },
    Published {
        table: "half_items",
        column: "halfvec(50)",
        from_src: "s.embedding::halfvec(50)",
        send: "halfvec_send",
        query: "$1::ruvector::halfvec(50)",
    },
    Published {
        table: "sparse_items",
        column: "sparsevec(50)",
        from_src: "s.sparse",
        send: "sparsevec_send",
        query: "$1::ruvector::sparsevec(50)",
    },
];

/// An index of the subscriber (the publisher has none: its answers come from sequential scans).
struct SubIndex {
    name: &'static str,
    table: usize,
    using: &'static str,
    op: &'static str,
    hnsw: bool,
}

const INDEXES: &[SubIndex] = &[
    SubIndex {
        name: "vec_hnsw",
        table: 0,
        using: "ruhnsw (embedding ruvector_cosine_ops)",
        op: "<=>",
        hnsw: true,
    },
    SubIndex {
        name: "vec_ivf",
        table: 0,
        using: "ruivfflat (embedding ruvector_l2_ops) WITH (lists = 40)",
        op: "<->",
        hnsw: false,
    },
    SubIndex {
        name: "half_hnsw",
        table: 1,
        using: "ruhnsw (embedding halfvec_l2_ops)",
        op: "<->",
        hnsw: true,
    },
    SubIndex {
        name: "sparse_hnsw",
        table: 2,
        using: "ruhnsw (embedding sparsevec_l2_ops)",
        op: "<->",
        hnsw: true,
    },
];

impl SubIndex {
    fn sql(&self) -> String {
        let t = &TABLES[self.table];
        let order = format!("embedding {} {}", self.op, t.query);
        format!(
            "SELECT id, {order} FROM {} ORDER BY {order} LIMIT 10",
            t.table
        )
    }

    fn create(&self) -> String {
        format!(
            "CREATE INDEX {} ON {} USING {}",
            self.name, TABLES[self.table].table, self.using
        )
    }
}

fn create_tables(client: &mut Client) {
    for t in TABLES {
        client
            .batch_execute(&format!(
                "CREATE TABLE {} (id int4 PRIMARY KEY, tag int4 NOT NULL, embedding {})",
                t.table, t.column
            ))
            .unwrap();
    }
}

fn create_indexes(client: &mut Client, which: impl Fn(&SubIndex) -> bool) {
    for i in INDEXES.iter().filter(|i| which(i)) {
        client.batch_execute(&i.create()).unwrap();
    }
}

/// Every subscribed table of the subscriber database `db` is synchronised (state `r`).
fn synced(sub: &Cluster, db: &str) -> bool {
    let mut c = sub.connect(db).unwrap();
    let (all, ready): (i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE srsubstate = 'r') FROM pg_subscription_rel",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    all == TABLES.len() as i64 && ready == all
}

/// Fails at once, with the log, if `c` logged an ERROR (an apply worker that fails retries
/// forever: the test would otherwise only time out).
fn assert_no_error_logged(c: &Cluster) {
    assert!(
        !c.log_contains("ERROR:"),
        "an error in {}'s log\n{}",
        c.name,
        c.log_tail()
    );
}

/// Waits until the subscriptions `subs` of `subscriber` have applied the publisher's WAL up to
/// its current position (as PostgreSQL's own TAP tests wait: `replay_lsn` in
/// `pg_stat_replication`).
fn wait_for_catchup(publisher: &mut Client, subscriber: &Cluster, subs: &[&str]) -> Duration {
    let lsn: String = publisher
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .unwrap()
        .get(0);
    let subs: Vec<String> = subs.iter().map(|s| s.to_string()).collect();
    wait_until(
        &format!("{subs:?} to apply up to {lsn}"),
        Duration::from_secs(300),
        || {
            assert_no_error_logged(subscriber);
            let n: i64 = publisher
                .query_one(
                    "SELECT count(*) FROM pg_stat_replication
                      WHERE application_name = ANY($1) AND state = 'streaming'
                        AND replay_lsn >= $2::text::pg_lsn",
                    &[&subs, &lsn],
                )
                .unwrap()
                .get(0);
            n == subs.len() as i64
        },
    )
}

/// The streamed changes of round `r` to every table: inserts of new ids, vector updates,
/// updates of `tag` only (the vector and so the indexes unchanged), deletes; rounds from
/// `ROUNDS` on also re-insert ids deleted in an earlier round, with new vectors. Even rounds
/// are one transaction, odd rounds a transaction per statement. Returns the rows changed.
fn round(publisher: &mut Client, r: i32) -> u64 {
    let mut statements = Vec::new();
    for t in TABLES {
        let (table, v) = (t.table, t.from_src);
        let lo = ROWS + r * INSERTS_PER_ROUND;
        let hi = lo + INSERTS_PER_ROUND;
        statements.push(format!(
            "INSERT INTO {table} (id, tag, embedding)
             SELECT s.id, 0, {v} FROM src s WHERE s.id >= {lo} AND s.id < {hi}"
        ));
        statements.push(format!(
            "UPDATE {table} t SET embedding = {v}, tag = t.tag + 1
               FROM src s WHERE s.id = t.id + {UPDATE_SHIFT} AND t.id % 200 = {r}"
        ));
        statements.push(format!(
            "UPDATE {table} SET tag = tag + 100 WHERE id % 200 = {}",
            100 + r
        ));
        statements.push(format!("DELETE FROM {table} WHERE id % 197 = {r}"));
        if r >= ROUNDS {
            let old = r - ROUNDS;
            statements.push(format!(
                "INSERT INTO {table} (id, tag, embedding)
                 SELECT s.id - {REINSERT_BASE}, 1000, {v} FROM src s
                  WHERE s.id >= {REINSERT_BASE} AND s.id < {REINSERT_BASE} + {ROWS}
                    AND (s.id - {REINSERT_BASE}) % 197 = {old}"
            ));
        }
    }
    if r % 2 == 0 {
        let mut t = publisher.transaction().unwrap();
        let n = statements.iter().map(|s| t.execute(s, &[]).unwrap()).sum();
        t.commit().unwrap();
        n
    } else {
        statements
            .iter()
            .map(|s| publisher.execute(s, &[]).unwrap())
            .sum()
    }
}

/// Every row of `table`: id, tag, text output, binary send output.
type Rows = Vec<(i32, i32, String, Vec<u8>)>;

fn all_rows(client: &mut Client, t: &Published) -> Rows {
    client
        .query(
            &format!(
                "SELECT id, tag, embedding::text, {}(embedding) FROM {} ORDER BY id",
                t.send, t.table
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

fn assert_same_rows(want: &Rows, got: &Rows, what: &str) {
    if want == got {
        return;
    }
    let first = want
        .iter()
        .zip(got)
        .find(|(w, g)| w != g)
        .map(|(w, g)| format!("publisher {w:?}\nsubscriber {g:?}"));
    panic!(
        "{what}: {} rows on the publisher, {} on the subscriber; first difference:\n{}",
        want.len(),
        got.len(),
        first.unwrap_or_else(|| "(one is a prefix of the other)".into())
    );
}

#[test]
fn logical_replication_text_and_binary() {
    let started = Instant::now();
    let ds = glove(Metric::Cosine);
    let publisher = Cluster::new(
        "repl-publisher",
        5610,
        &[
            "wal_level = logical",
            "max_replication_slots = 10",
            "max_wal_senders = 10",
            "max_wal_size = 4GB",
            "checkpoint_timeout = 30min",
            "autovacuum = off",
        ],
    )
    .unwrap();
    let subscriber = Cluster::new(
        "repl-subscriber",
        5611,
        &[
            "max_logical_replication_workers = 8",
            "max_worker_processes = 16",
            "max_wal_size = 4GB",
            "checkpoint_timeout = 30min",
            // VACUUM runs when the test says so (the subscriber's is timed).
            "autovacuum = off",
        ],
    )
    .unwrap();

    // The publisher: the tables, loaded from `src` (GloVe rows and, for sparsevec, their 10
    // largest-magnitude coordinates), which is not published. No vector indexes: its answers
    // come from sequential scans.
    let mut p = publisher.with_extension().unwrap();
    p.batch_execute(
        "CREATE TABLE src (id int4 PRIMARY KEY, embedding ruvector(50), sparse sparsevec(50))",
    )
    .unwrap();
    copy_rows(&mut p, "src", &ds, 0..SRC_ROWS).unwrap();
    p.batch_execute(
        "UPDATE src SET sparse = (
             SELECT format('{%s}/50', string_agg(format('%s:%s', i, x), ',' ORDER BY i))
               FROM (SELECT x, i FROM unnest(embedding::real[]) WITH ORDINALITY AS e(x, i)
                      ORDER BY abs(x) DESC, i LIMIT 10) top)::sparsevec(50)",
    )
    .unwrap();
    p.batch_execute("VACUUM ANALYZE src").unwrap();
    create_tables(&mut p);
    for t in TABLES {
        p.batch_execute(&format!(
            "INSERT INTO {} (id, tag, embedding) SELECT s.id, 0, {} FROM src s WHERE s.id < {ROWS}",
            t.table, t.from_src
        ))
        .unwrap();
    }
    p.batch_execute(
        "CREATE PUBLICATION pub FOR TABLE vec_items, half_items, sparse_items;
         ANALYZE vec_items, half_items, sparse_items",
    )
    .unwrap();

    // The subscriber: two databases with the same tables (schema is not replicated). In
    // `sub_bin` the ruhnsw indexes exist before the subscription, so the initial copy goes
    // through index inserts; in `sub_text` every index is built after the initial sync. Both
    // build their ruivfflat index after it (k-means needs the rows). (PostgreSQL 15 copies
    // the initial rows in text even for a binary subscription; 16 on copies them in binary.)
    assert!(INDEXES
        .iter()
        .any(|i| i.using.contains(&format!("lists = {LISTS}"))));
    let mut admin = subscriber.connect("postgres").unwrap();
    for db in ["sub_text", "sub_bin"] {
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
    }
    let mut s_text = subscriber.connect("sub_text").unwrap();
    let mut s_bin = subscriber.connect("sub_bin").unwrap();
    for c in [&mut s_text, &mut s_bin] {
        c.batch_execute("CREATE EXTENSION ruvector").unwrap();
        create_tables(c);
    }
    create_indexes(&mut s_bin, |i| i.hnsw);
    let conn = publisher.conninfo("postgres");
    let sync_start = Instant::now();
    s_text
        .batch_execute(&format!(
            "CREATE SUBSCRIPTION sub_text CONNECTION '{conn}' PUBLICATION pub"
        ))
        .unwrap();
    s_bin
        .batch_execute(&format!(
            "CREATE SUBSCRIPTION sub_bin CONNECTION '{conn}' PUBLICATION pub WITH (binary = true)"
        ))
        .unwrap();
    let binary: Vec<(String, bool)> = s_bin
        .query(
            "SELECT subname::text, subbinary FROM pg_subscription ORDER BY subname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        binary,
        [
            ("sub_bin".to_string(), true),
            ("sub_text".to_string(), false)
        ]
    );
    let (mut text_synced, mut bin_synced) = (None, None);
    wait_until(
        "the initial sync of both subscriptions",
        Duration::from_secs(600),
        || {
            assert_no_error_logged(&subscriber);
            if text_synced.is_none() && synced(&subscriber, "sub_text") {
                text_synced = Some(sync_start.elapsed());
            }
            if bin_synced.is_none() && synced(&subscriber, "sub_bin") {
                bin_synced = Some(sync_start.elapsed());
            }
            text_synced.is_some() && bin_synced.is_some()
        },
    );
    println!(
        "initial sync of {} tables x {ROWS} rows: text {:.1} s (no indexes yet), \
         binary {:.1} s (ruhnsw indexes maintained by the copy)",
        TABLES.len(),
        text_synced.unwrap().as_secs_f64(),
        bin_synced.unwrap().as_secs_f64()
    );
    let subs = ["sub_text", "sub_bin"];
    wait_for_catchup(&mut p, &subscriber, &subs);
    let build_start = Instant::now();
    create_indexes(&mut s_text, |_| true);
    create_indexes(&mut s_bin, |i| !i.hnsw);
    println!(
        "subscriber index builds after the sync: {:.1} s",
        build_start.elapsed().as_secs_f64()
    );

    // Streamed changes, a VACUUM of the subscriber (its indexes drop the deleted rows and free
    // their slots), more changes including re-inserts of deleted ids.
    let stream_start = Instant::now();
    let mut changes = 0;
    for r in 0..ROUNDS {
        changes += round(&mut p, r);
    }
    let lag_a = wait_for_catchup(&mut p, &subscriber, &subs);
    let vacuum_start = Instant::now();
    for c in [&mut s_text, &mut s_bin] {
        c.batch_execute("VACUUM vec_items, half_items, sparse_items")
            .unwrap();
    }
    let vacuum = vacuum_start.elapsed();
    for r in ROUNDS..2 * ROUNDS {
        changes += round(&mut p, r);
    }
    let lag_b = wait_for_catchup(&mut p, &subscriber, &subs);
    println!(
        "{changes} row changes streamed in {} rounds, applied by both subscribers in {:.1} s \
         (waits for them after rounds {ROUNDS} and {}: {:.1} s, {:.1} s; the subscribers' \
         VACUUM in between {:.1} s)",
        2 * ROUNDS,
        (stream_start.elapsed() - vacuum).as_secs_f64(),
        2 * ROUNDS,
        lag_a.as_secs_f64(),
        lag_b.as_secs_f64(),
        vacuum.as_secs_f64()
    );

    // Every row is byte-identical on both sides, in text and in binary.
    for t in TABLES {
        let want = all_rows(&mut p, t);
        for (db, c) in [("sub_text", &mut s_text), ("sub_bin", &mut s_bin)] {
            assert_same_rows(&want, &all_rows(c, t), &format!("{db}.{}", t.table));
        }
        println!(
            "{}: {} rows identical on both subscribers",
            t.table,
            want.len()
        );
    }

    // The subscribers' own indexes answer as the publisher's sequential scan.
    p.batch_execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        .unwrap();
    for c in [&mut s_text, &mut s_bin] {
        c.batch_execute(&format!(
            "SET enable_seqscan = off; SET ruvector.ef_search = 1000; SET ruvector.probes = {LISTS}"
        ))
        .unwrap();
    }
    for i in INDEXES {
        let sql = i.sql();
        let plan: Vec<String> = p
            .query(
                &format!("EXPLAIN (COSTS OFF) {sql}"),
                &[&VectorParam(ds.queries.row(0))],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(
            plan.iter().any(|l| l.contains("Seq Scan")),
            "publisher: {plan:?}"
        );
        let want: Vec<Knn> = (0..QUERIES)
            .map(|q| knn(&mut p, &sql, ds.queries.row(q)))
            .collect();
        assert!(want.iter().all(|w| w.len() == 10), "{sql}");
        for (db, c) in [("sub_text", &mut s_text), ("sub_bin", &mut s_bin)] {
            assert_index_scan(c, &sql, &[&VectorParam(ds.queries.row(0))], i.name);
            let got: Vec<Knn> = (0..QUERIES)
                .map(|q| knn(c, &sql, ds.queries.row(q)))
                .collect();
            check_answers(&want, &got, &format!("{db}.{}", i.name), !i.hnsw);
        }
    }

    for (db, c) in [("sub_text", &mut s_text), ("sub_bin", &mut s_bin)] {
        for i in INDEXES {
            let report = assert_index_healthy(c, i.name);
            assert_eq!(report["problem_count"], 0, "{db}.{}: {report}", i.name);
        }
    }
    for c in [&publisher, &subscriber] {
        assert_log_clean(c);
        assert_no_error_logged(c);
    }
    println!(
        "logical replication test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// Hot standby reads
// ---------------------------------------------------------------------------------------------

/// GloVe rows in the primary's table at the start; rows `HS_ROWS..` are the pool of new values.
const HS_ROWS: usize = 20_000;
const HS_POOL: usize = 60_000;
/// How long the primary writes while the standbys answer queries.
const WRITE_SECONDS: u64 = 25;
/// How long the readers run before the writes start, for comparison.
const IDLE_READS: Duration = Duration::from_secs(3);
/// The primary's table is VACUUMed this long after the end of the previous VACUUM.
const VACUUM_EVERY: Duration = Duration::from_secs(5);
/// The writer's pause between steps (it leaves CPU to replay and the readers on 2 cores).
const STEP_PAUSE: Duration = Duration::from_millis(20);
/// `ruvector.ef_search` of the readers (the final comparison uses 1000).
const READER_EF: i64 = 100;

/// What one reader saw.
#[derive(Default, Debug)]
struct ReaderStats {
    answered: u64,
    /// Time spent in the k-NN statements of the answered transactions.
    knn_time: Duration,
    /// Statements cancelled by a recovery conflict (SQLSTATE 40001 or 40P01, or 57P04), retried.
    conflicts: u64,
    /// Connections closed under the reader with no error delivered: a conflict that hit the
    /// session between two statements of its transaction terminates it (FATAL), and the
    /// message may be lost with the socket. Checked against the server log afterwards.
    lost: u64,
    /// Connections reopened (after a terminating conflict, reported or lost).
    reconnects: u64,
    seconds: f64,
    /// Anything else: the test fails on it.
    errors: Vec<String>,
}

/// A recovery conflict: `canceling statement due to conflict with recovery` (40001; 40P01 for
/// a buffer-pin deadlock with the startup process) or `terminating connection due to conflict
/// with recovery` (40001; 57P04 when the database was dropped).
fn recovery_conflict(e: &postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        matches!(db.code().code(), "40001" | "40P01" | "57P04")
            && db.message().contains("conflict with recovery")
    })
}

const KNN_SQL: &str = "SELECT id, embedding <=> $1 FROM items ORDER BY embedding <=> $1 LIMIT 10";

fn reader_session(standby: &Cluster) -> (Client, postgres::Statement) {
    let mut c = standby.connect("postgres").unwrap();
    c.batch_execute(&format!(
        "SET ruvector.ef_search = {READER_EF}; SET enable_seqscan = off"
    ))
    .unwrap();
    let stmt = c.prepare(KNN_SQL).unwrap();
    (c, stmt)
}

/// One read: in a REPEATABLE READ transaction, `count(*)`, the k-NN query, `count(*)` again.
/// Returns an error message for a wrong answer.
fn read_once(
    c: &mut Client,
    stmt: &postgres::Statement,
    q: &[f32],
) -> Result<Result<Duration, String>, postgres::Error> {
    let mut t = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let before: i64 = t.query_one("SELECT count(*) FROM items", &[])?.get(0);
    let knn_start = Instant::now();
    let rows: Knn = t
        .query(stmt, &[&VectorParam(q)])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let knn_time = knn_start.elapsed();
    let after: i64 = t.query_one("SELECT count(*) FROM items", &[])?.get(0);
    t.commit()?;
    if before != after {
        return Ok(Err(format!(
            "count(*) {before} then {after} in one REPEATABLE READ transaction"
        )));
    }
    if rows.len() != 10 {
        return Ok(Err(format!("{} rows instead of 10: {rows:?}", rows.len())));
    }
    let mut ids: Vec<i32> = rows.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != 10 || rows.windows(2).any(|w| w[0].1 > w[1].1) {
        return Ok(Err(format!(
            "duplicate rows or not nearest first: {rows:?}"
        )));
    }
    Ok(Ok(knn_time))
}

/// Runs reads against `standby` until `stop`, retrying recovery conflicts.
fn reader(standby: &Cluster, ds: &Dataset, offset: usize, stop: &AtomicBool) -> ReaderStats {
    let mut stats = ReaderStats::default();
    let (mut c, mut stmt) = reader_session(standby);
    let start = Instant::now();
    let mut q = offset;
    while !stop.load(Ordering::Relaxed) && stats.errors.len() < 5 {
        let result = read_once(&mut c, &stmt, ds.queries.row(q % ds.queries.len()));
        let failed = result.is_err();
        match result {
            Ok(Ok(t)) => {
                stats.answered += 1;
                stats.knn_time += t;
                q += 1;
            }
            Ok(Err(wrong)) => stats.errors.push(wrong),
            Err(e) if recovery_conflict(&e) => stats.conflicts += 1,
            Err(e) if e.code().is_none() && c.is_closed() => stats.lost += 1,
            Err(e) => stats.errors.push(format!("{e} ({:?})", e.code())),
        }
        if failed && !c.is_closed() {
            // A conflict can cancel the COMMIT itself, which leaves the transaction open and
            // aborted (the client's transaction object is gone by then); otherwise there is no
            // transaction and ROLLBACK only warns.
            let _ = c.batch_execute("ROLLBACK");
        }
        if c.is_closed() {
            stats.reconnects += 1;
            (c, stmt) = reader_session(standby);
        }
    }
    stats.seconds = start.elapsed().as_secs_f64();
    stats
}

/// Runs a [`reader`] on each standby while `work` runs; returns what they saw, and `work`'s
/// result.
fn with_readers<T>(
    standbys: &[&Cluster],
    ds: &Dataset,
    work: impl FnOnce() -> T,
) -> (Vec<ReaderStats>, T) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let readers: Vec<_> = standbys
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let stop = &stop;
                scope.spawn(move || reader(s, ds, k * 500, stop))
            })
            .collect();
        let result = work();
        stop.store(true, Ordering::Relaxed);
        let stats = readers.into_iter().map(|r| r.join().unwrap()).collect();
        (stats, result)
    })
}

fn print_reads(s: &Cluster, phase: &str, st: &ReaderStats) {
    println!(
        "{} ({phase}): {} k-NN transactions in {:.1} s: {:.0} per second (each a REPEATABLE \
         READ transaction with two count(*)s), k-NN statement {:.2} ms on average at ef_search \
         {READER_EF}; {} recovery conflicts retried, {} connections lost to one, {} reconnects",
        s.name,
        st.answered,
        st.seconds,
        st.answered as f64 / st.seconds,
        st.knn_time.as_secs_f64() * 1000.0 / st.answered.max(1) as f64,
        st.conflicts,
        st.lost,
        st.reconnects
    );
}

/// The ERROR and FATAL lines of a server's log.
fn logged_errors(c: &Cluster) -> Vec<String> {
    std::fs::read_to_string(c.dir.join("server.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" ERROR:  ") || l.contains(" FATAL:  "))
        .map(String::from)
        .collect()
}

/// What the primary wrote.
#[derive(Default, Debug)]
struct WriterStats {
    steps: u64,
    inserted: u64,
    updated: u64,
    deleted: u64,
}

/// Writes to the primary for `WRITE_SECONDS`: each step inserts 5 rows from the pool, gives
/// about 5 rows new vectors and deletes about 5, then pauses `STEP_PAUSE`.
fn writer(primary: &Cluster) -> WriterStats {
    let mut c = primary.connect("postgres").unwrap();
    let mut stats = WriterStats::default();
    let start = Instant::now();
    let mut next = HS_ROWS as i32;
    let mut step: i32 = 0;
    while start.elapsed() < Duration::from_secs(WRITE_SECONDS) {
        if next as usize + 5 > HS_POOL {
            next = HS_ROWS as i32; // every pool row was used: wrap
        }
        stats.inserted += c
            .execute(
                "INSERT INTO items (id, embedding)
                 SELECT id, embedding FROM pool WHERE id >= $1 AND id < $1 + 5
                 ON CONFLICT (id) DO NOTHING",
                &[&next],
            )
            .unwrap();
        next += 5;
        stats.updated += c
            .execute(
                "UPDATE items i SET embedding = p.embedding FROM pool p
                  WHERE i.id % 3989 = $1 AND p.id = 20000 + (i.id * 7 + $1) % 40000",
                &[&(step % 3989)],
            )
            .unwrap();
        stats.deleted += c
            .execute(
                "DELETE FROM items WHERE id % 4001 = $1",
                &[&((step * 37 + 1000) % 4001)],
            )
            .unwrap();
        step += 1;
        stats.steps += 1;
        std::thread::sleep(STEP_PAUSE);
    }
    stats
}

/// VACUUMs the primary's table every `VACUUM_EVERY` (from its own connection, as autovacuum
/// would, while the writer goes on) until `done`; returns how long each one took, in seconds.
fn vacuumer(primary: &Cluster, done: &AtomicBool) -> Vec<f64> {
    let mut c = primary.connect("postgres").unwrap();
    let mut took = Vec::new();
    let mut last = Instant::now();
    while !done.load(Ordering::Relaxed) {
        if last.elapsed() < VACUUM_EVERY {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let t = Instant::now();
        c.batch_execute("VACUUM items").unwrap();
        took.push(t.elapsed().as_secs_f64());
        last = Instant::now();
    }
    took
}

#[test]
fn hot_standbys_answer_knn_while_the_primary_writes() {
    let started = Instant::now();
    let ds = glove(Metric::Cosine);
    let primary = Cluster::new(
        "repl-hs-primary",
        5612,
        &[
            "wal_level = replica",
            "max_wal_senders = 6",
            "max_wal_size = 4GB",
            "checkpoint_timeout = 30min",
            "autovacuum = off",
        ],
    )
    .unwrap();
    let mut p = primary.with_extension().unwrap();
    p.batch_execute(
        "CREATE TABLE pool (id int4 PRIMARY KEY, embedding ruvector(50));
         CREATE TABLE items (id int4 PRIMARY KEY, embedding ruvector(50))",
    )
    .unwrap();
    copy_rows(&mut p, "pool", &ds, HS_ROWS..HS_POOL).unwrap();
    copy_rows(&mut p, "items", &ds, 0..HS_ROWS).unwrap();
    p.batch_execute("CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops)")
        .unwrap();
    p.batch_execute("VACUUM ANALYZE items, pool").unwrap();

    // Two standbys, hot_standby_feedback off (the default): the primary's VACUUM removes rows
    // the standbys' queries may still see. One lets replay wait up to 30 s for such queries
    // (the default max_standby_streaming_delay), the other cancels them at once.
    let standbys = [
        (
            primary.standby("repl-hs-standby-wait", 5613).unwrap(),
            "hot_standby_feedback = off\n",
        ),
        (
            primary.standby("repl-hs-standby-cancel", 5614).unwrap(),
            "hot_standby_feedback = off\nmax_standby_streaming_delay = 0\n",
        ),
    ];
    for (s, conf) in &standbys {
        s.append_conf(conf).unwrap();
        let mut c = s.connect("postgres").unwrap();
        c.batch_execute("SELECT pg_reload_conf(); SET enable_seqscan = off")
            .unwrap();
        let delay = if conf.contains("max_standby_streaming_delay") {
            "0"
        } else {
            "30s"
        };
        wait_until("the reloaded settings", Duration::from_secs(10), || {
            let now: Vec<String> = ["hot_standby_feedback", "max_standby_streaming_delay"]
                .iter()
                .map(|g| c.query_one(&format!("SHOW {g}"), &[]).unwrap().get(0))
                .collect();
            now == ["off", delay]
        });
        s.wait_for_replay(&mut p).unwrap();
        let in_recovery: bool = c
            .query_one("SELECT pg_is_in_recovery()", &[])
            .unwrap()
            .get(0);
        assert!(in_recovery);
        assert_index_scan(
            &mut c,
            "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10",
            &[&VectorParam(ds.queries.row(0))],
            "items_idx",
        );
    }

    let refs: Vec<&Cluster> = standbys.iter().map(|(s, _)| s).collect();
    // First without writes, for comparison.
    let (idle, ()) = with_readers(&refs, &ds, || std::thread::sleep(IDLE_READS));
    for (s, st) in refs.iter().zip(&idle) {
        print_reads(s, "no writes", st);
        assert!(st.errors.is_empty(), "{}: {:?}", s.name, st.errors);
    }
    let writes_done = AtomicBool::new(false);
    let (stats, (written, vacuums)) = with_readers(&refs, &ds, || {
        std::thread::scope(|scope| {
            let vacuums = scope.spawn(|| vacuumer(&primary, &writes_done));
            let written = writer(&primary);
            writes_done.store(true, Ordering::Relaxed);
            (written, vacuums.join().unwrap())
        })
    });
    println!(
        "primary, {WRITE_SECONDS} s: {} write steps, {} rows inserted, {} updated, {} deleted; \
         VACUUMs meanwhile took {vacuums:.1?} s",
        written.steps, written.inserted, written.updated, written.deleted
    );
    for (s, st) in refs.iter().zip(&stats) {
        print_reads(s, "primary writing", st);
    }
    for (s, st) in refs.iter().zip(&stats) {
        assert!(st.errors.is_empty(), "{}: {:?}", s.name, st.errors);
        assert!(st.answered > 0, "{}: no query answered", s.name);
        // Every error the standby logged is a recovery conflict, and there were at least as
        // many terminations as the reader lost connections.
        let logged = logged_errors(s);
        let other: Vec<&String> = logged
            .iter()
            .filter(|l| !l.contains("due to conflict with recovery"))
            .collect();
        assert!(other.is_empty(), "{}: {other:?}", s.name);
        let terminated = logged
            .iter()
            .filter(|l| l.contains("FATAL:  terminating connection due to conflict with recovery"))
            .count() as u64;
        assert!(
            terminated >= st.lost,
            "{}: {} connections lost, {terminated} terminated by conflicts",
            s.name,
            st.lost
        );
    }
    assert!(vacuums.len() >= 2, "only {} VACUUMs", vacuums.len());

    // Once the standbys have replayed everything, each one's index answers as the primary's
    // index and, at full ef_search, as its sequential scan; and checks clean.
    let n_items = sql_count(&mut p, "SELECT count(*) FROM items");
    let answers = |c: &mut Client| -> Vec<Knn> {
        (0..QUERIES)
            .map(|q| knn(c, KNN_SQL, ds.queries.row(q)))
            .collect()
    };
    p.batch_execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        .unwrap();
    let exact = answers(&mut p);
    p.batch_execute(
        "RESET enable_indexscan; RESET enable_bitmapscan;
         SET enable_seqscan = off; SET ruvector.ef_search = 1000",
    )
    .unwrap();
    assert_index_scan(
        &mut p,
        KNN_SQL,
        &[&VectorParam(ds.queries.row(0))],
        "items_idx",
    );
    let on_primary = answers(&mut p);
    for (s, _) in &standbys {
        s.wait_for_replay(&mut p).unwrap();
        let mut c = s.connect("postgres").unwrap();
        assert_eq!(sql_count(&mut c, "SELECT count(*) FROM items"), n_items);
        c.batch_execute("SET enable_seqscan = off; SET ruvector.ef_search = 1000")
            .unwrap();
        assert_index_scan(
            &mut c,
            KNN_SQL,
            &[&VectorParam(ds.queries.row(0))],
            "items_idx",
        );
        let got = answers(&mut c);
        // The replayed index is the primary's, page for page: the same answers, exactly.
        assert_eq!(
            got, on_primary,
            "{} answers differ from the primary's",
            s.name
        );
        check_answers(&exact, &got, &s.name, false);
        let report = assert_index_healthy(&mut c, "items_idx");
        assert_eq!(report["problem_count"], 0, "{}: {report}", s.name);
        assert_log_clean(s);
    }
    assert_index_healthy(&mut p, "items_idx");
    assert_log_clean(&primary);
    println!(
        "{n_items} rows; both standbys answer {QUERIES} queries as the primary's index; hot \
         standby test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
