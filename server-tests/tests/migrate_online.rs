//! `ruvector-migrate`, the real command line, against real pgvector.
//!
//! - `online_migration_under_writes`: 50,000 GloVe rows with a pgvector `hnsw` index; four
//!   clients insert, update and delete at a steady rate while `ruvector-migrate run` starts,
//!   backfills, builds, validates and swaps. Afterwards the table holds exactly what the
//!   clients' acknowledged writes say (no lost or stale vector), the clients saw no error, the
//!   new index's recall is at least the old one's − 0.01; rollback restores the pgvector column
//!   and index (with the writes made after the swap), and cleanup drops them so pgvector itself
//!   can go.
//! - `backfill_resumes_after_kill9`: the server is killed with SIGKILL in the middle of the
//!   backfill; after restart, `run` resumes from the last committed batch and ends in the same
//!   state.
//! - `every_kind_of_column_and_index`: halfvec, sparsevec and bit columns (a bit column keeps
//!   its type; only its index moves), an `ivfflat` index, a partial index and a partitioned
//!   table.

use postgres::{Client, NoTls};
use ruvector_bench::dataset::Metric;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data;
use ruvector_server_tests::fixture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `ruvector-migrate` binary: `RUVECTOR_MIGRATE`, else beside this test's executable
/// (`cargo build -p ruvector-migrate`, which scripts/test.sh runs, puts it there).
fn migrate_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RUVECTOR_MIGRATE") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("ruvector-migrate");
    assert!(
        bin.exists(),
        "{} is missing: cargo build -p ruvector-migrate (same profile as the tests)",
        bin.display()
    );
    bin
}

fn migrate(c: &Cluster, args: &[&str]) -> Output {
    Command::new(migrate_bin())
        .args(["--dsn", &c.conninfo("postgres"), "--quiet"])
        .args(args)
        .output()
        .expect("cannot run ruvector-migrate")
}

fn migrate_ok(c: &Cluster, args: &[&str]) -> String {
    let out = migrate(c, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ruvector-migrate {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// pgvector in public, ruvector in schema ruvector on the search_path.
fn cluster(name: &str, port: u16) -> (Cluster, Client) {
    let c = Cluster::new(name, port, &["maintenance_work_mem = '256MB'"]).unwrap();
    let mut db = c.connect("postgres").unwrap();
    db.batch_execute(&format!(
        "{}
         ALTER DATABASE postgres SET search_path = \"$user\", public, ruvector;",
        fixture::BESIDE_PGVECTOR
    ))
    .expect("pgvector must be installed (scripts/setup.sh --pgvector)");
    drop(db);
    let db = c.connect("postgres").unwrap();
    (c, db)
}

/// Table `items (id, embedding vector(50))` with the first `rows` GloVe rows and a pgvector
/// `hnsw` index `index` of operator class `opclass`.
fn pgvector_items(
    db: &mut Client,
    ds: &ruvector_bench::dataset::Dataset,
    rows: usize,
    index: &str,
    opclass: &str,
) {
    db.batch_execute("CREATE TABLE items (id int4 PRIMARY KEY, embedding vector(50))")
        .unwrap();
    data::copy_rows(db, "items", ds, 0..rows).unwrap();
    db.batch_execute(&format!(
        "CREATE INDEX {index} ON items USING hnsw (embedding {opclass}); ANALYZE items;"
    ))
    .unwrap();
}

/// pgvector's text form of a vector (shortest round-trip floats, as the server prints them).
fn text(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", parts.join(","))
}

/// Every row's vector, by id, read through `column` (cast to real[]).
fn contents(db: &mut Client, column: &str) -> BTreeMap<i32, Vec<f32>> {
    db.query(&format!("SELECT id, {column}::real[] FROM items"), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn column_type(db: &mut Client, table: &str, column: &str) -> String {
    db.query_one(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
          WHERE attrelid = $1::text::regclass AND attname = $2 AND NOT attisdropped",
        &[&table, &column],
    )
    .unwrap()
    .get(0)
}

fn index_am(db: &mut Client, index: &str) -> (String, bool) {
    let r = db
        .query_one(
            "SELECT am.amname::text, i.indisvalid FROM pg_class c JOIN pg_am am ON am.oid = c.relam
               JOIN pg_index i ON i.indexrelid = c.oid WHERE c.oid = $1::text::regclass",
            &[&index],
        )
        .unwrap();
    (r.get(0), r.get(1))
}

/// What the writers' acknowledged statements say the table holds for the ids they touched:
/// Some(vector) or None (deleted).
type Model = BTreeMap<i32, Option<Vec<f32>>>;

/// A client writing at a steady pace until `stop`: inserts of new ids, updates and deletes of
/// its own share of the base rows. Every statement is sent as the application would, with the
/// vector typed as pgvector's (`$2::text::vector`), before and after the swap alike. Returns
/// its model and the errors it saw.
fn writer(
    conninfo: String,
    w: usize,
    base: Vec<Vec<f32>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Model, Vec<String>)> {
    std::thread::spawn(move || {
        let mut db = Client::connect(&conninfo, NoTls).unwrap();
        let mut model = Model::new();
        let mut errors = Vec::new();
        let mut k = 0usize;
        while !stop.load(Ordering::Relaxed) {
            k += 1;
            // own base ids: w, w + 4, w + 8, ... ; new ids from 1,000,000 + 100,000 w
            let own = ((k * 7919) % (base.len() / 4) * 4 + w) as i32;
            let v = &base[(k * 31 + w * 1000) % base.len()];
            let (sql, id, value): (&str, i32, Option<&Vec<f32>>) = match k % 4 {
                0 | 1 => (
                    "INSERT INTO items (id, embedding) VALUES ($1, $2::text::vector)",
                    (1_000_000 + w * 100_000 + k) as i32,
                    Some(v),
                ),
                2 => (
                    "UPDATE items SET embedding = $2::text::vector WHERE id = $1",
                    own,
                    Some(v),
                ),
                _ => (
                    "DELETE FROM items WHERE id = $1 AND $2::text IS NOT NULL",
                    own,
                    None,
                ),
            };
            let param = text(value.map(|v| v.as_slice()).unwrap_or(&[0.0]));
            match db.execute(sql, &[&id, &param]) {
                Ok(n) => {
                    if k % 4 == 2 && n == 0 {
                        // updating a row this writer deleted earlier: nothing changes
                    } else {
                        model.insert(id, value.cloned());
                    }
                }
                Err(e) => errors.push(format!("{e}")),
            }
            std::thread::sleep(Duration::from_millis(4));
        }
        (model, errors)
    })
}

/// The table's expected contents: the GloVe base rows, with the writers' models applied.
fn expected(base: &[Vec<f32>], models: &[Model]) -> BTreeMap<i32, Vec<f32>> {
    let mut want: BTreeMap<i32, Vec<f32>> = base
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i32, v.clone()))
        .collect();
    for m in models {
        for (id, v) in m {
            match v {
                Some(v) => {
                    want.insert(*id, v.clone());
                }
                None => {
                    want.remove(id);
                }
            }
        }
    }
    want
}

fn assert_contents(db: &mut Client, column: &str, want: &BTreeMap<i32, Vec<f32>>, what: &str) {
    let got = contents(db, column);
    assert_eq!(got.len(), want.len(), "{what}: row count");
    let wrong: Vec<i32> = want
        .iter()
        .filter(|(id, v)| got.get(id) != Some(v))
        .map(|(id, _)| *id)
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: rows with a lost or stale vector: {wrong:?}"
    );
}

/// Rows of the online migration: enough for the backfill, build and validation to run for
/// tens of seconds under the writers.
const ROWS: usize = 50_000;

#[test]
fn online_migration_under_writes() {
    let ds = data::glove(Metric::Cosine);
    let (c, mut db) = cluster("migrate-online", 5554);
    pgvector_items(
        &mut db,
        &ds,
        ROWS,
        "items_embedding_idx",
        "vector_cosine_ops",
    );
    let base: Vec<Vec<f32>> = (0..ROWS).map(|i| ds.base.row(i).to_vec()).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| writer(c.conninfo("postgres"), w, base.clone(), stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let report = c.dir.join("validation.json");
    let started = Instant::now();
    let out = migrate_ok(
        &c,
        &[
            "run",
            "items",
            "embedding",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    eprintln!(
        "migrated in {:.0} s:\n{out}",
        started.elapsed().as_secs_f64()
    );
    // the application keeps writing to the swapped column for a while
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let (models, errors): (Vec<Model>, Vec<Vec<String>>) =
        writers.into_iter().map(|h| h.join().unwrap()).unzip();
    let errors: Vec<String> = errors.into_iter().flatten().collect();
    // the writers set no lock_timeout: the swap's lock makes them wait, never fail
    assert!(errors.is_empty(), "the clients saw errors: {errors:?}");
    let writes: usize = models.iter().map(|m| m.len()).sum();
    assert!(
        writes > 1000,
        "the clients wrote too little ({writes} rows) to mean anything"
    );

    assert_eq!(column_type(&mut db, "items", "embedding"), "ruvector(50)");
    assert_eq!(
        column_type(&mut db, "items", "embedding_pgvector"),
        "vector(50)"
    );
    assert_eq!(
        index_am(&mut db, "items_embedding_idx"),
        ("ruhnsw".to_string(), true)
    );
    let want = expected(&base, &models);
    assert_contents(&mut db, "embedding", &want, "after the swap");
    // the pgvector column is kept in step for rollback
    assert_contents(
        &mut db,
        "embedding_pgvector",
        &want,
        "pgvector column after the swap",
    );

    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["differing_rows"], 0);
    let ix = &report["indexes"][0];
    let (old, new) = (
        ix["recall_pgvector"].as_f64().unwrap(),
        ix["recall_ruvector"].as_f64().unwrap(),
    );
    eprintln!(
        "recall@10 pgvector {old:.3}, ruvector {new:.3}, {} queries",
        ix["queries"]
    );
    assert_eq!(ix["queries"], 100);
    assert!(
        new >= old - 0.01,
        "ruvector's recall {new} < pgvector's {old} - 0.01"
    );

    // the application's queries now run through ruvector's index
    let plan: String = db
        .query(
            "EXPLAIN SELECT id FROM items ORDER BY embedding <=> $1::text::vector LIMIT 10",
            &[&text(ds.queries.row(0))],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(plan.contains("items_embedding_idx"), "{plan}");

    // rollback: pgvector's column and index are back, with the rows written after the swap
    migrate_ok(&c, &["rollback", "items", "embedding"]);
    assert_eq!(column_type(&mut db, "items", "embedding"), "vector(50)");
    assert_eq!(
        index_am(&mut db, "items_embedding_idx"),
        ("hnsw".to_string(), true)
    );
    assert_contents(&mut db, "embedding", &want, "after rollback");
    db.execute(
        "INSERT INTO items VALUES (2000000, $1::text::vector)",
        &[&text(&base[0])],
    )
    .unwrap();
    let mut want = want;
    want.insert(2_000_000, base[0].clone());
    assert_contents(
        &mut db,
        "embedding_ruvector",
        &want,
        "ruvector column after rollback",
    );

    // swap again, clean up: pgvector's column and index are gone, and pgvector can go too
    migrate_ok(&c, &["validate", "items", "embedding", "--tune-recall"]);
    migrate_ok(&c, &["swap", "items", "embedding"]);
    migrate_ok(&c, &["cleanup", "items", "embedding"]);
    let columns: Vec<String> = db
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'items'::regclass
               AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(columns, ["id", "embedding"]);
    db.batch_execute("DROP EXTENSION vector").unwrap();
    assert_contents(&mut db, "embedding", &want, "after cleanup");
    let status = migrate_ok(&c, &["status"]);
    assert!(status.contains("no migration"), "{status}");
}

#[test]
fn backfill_resumes_after_kill9() {
    let ds = data::glove(Metric::L2);
    let (c, mut db) = cluster("migrate-kill9", 5555);
    pgvector_items(&mut db, &ds, 30_000, "items_l2", "vector_l2_ops");
    migrate_ok(&c, &["start", "items", "embedding"]);
    let mut backfill = Command::new(migrate_bin())
        .args(["--dsn", &c.conninfo("postgres"), "--quiet"])
        .args([
            "backfill",
            "items",
            "embedding",
            "--batch",
            "500",
            "--sleep-ms",
            "20",
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: i64 = db
            .query_one("SELECT rows_done FROM ruvector_migrate.jobs", &[])
            .unwrap()
            .get(0);
        if done >= 10_000 {
            break;
        }
        assert!(Instant::now() < deadline, "the backfill made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.kill9().unwrap();
    let status = backfill.wait().unwrap();
    assert!(!status.success(), "the backfill did not notice the crash");
    drop(db);
    c.start().unwrap();
    let mut db = c.connect("postgres").unwrap();
    let (done, last): (i64, Vec<String>) = {
        let r = db
            .query_one("SELECT rows_done, last_key FROM ruvector_migrate.jobs", &[])
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(
        (10_000..30_000).contains(&done),
        "{done} rows recorded as backfilled"
    );
    // what was recorded is exactly what survived: rows up to last_key have their shadow
    let last: i32 = last[0].parse().unwrap();
    let filled: i64 = db
        .query_one(
            "SELECT count(*) FROM items WHERE embedding_ruvector IS NOT NULL AND id <= $1",
            &[&last],
        )
        .unwrap()
        .get(0);
    assert_eq!(filled, last as i64 + 1);
    assert_eq!(filled, done);

    let out = migrate_ok(&c, &["run", "items", "embedding", "--tune-recall"]);
    let resumed: i64 = out
        .split("backfilled ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no backfill line in {out}"));
    assert_eq!(
        resumed,
        30_000 - done,
        "the resumed backfill redid or skipped rows"
    );
    assert_eq!(column_type(&mut db, "items", "embedding"), "ruvector(50)");
    let want: BTreeMap<i32, Vec<f32>> = (0..30_000)
        .map(|i| (i as i32, ds.base.row(i).to_vec()))
        .collect();
    assert_contents(&mut db, "embedding", &want, "after the resumed migration");
    assert_eq!(index_am(&mut db, "items_l2"), ("ruhnsw".to_string(), true));
}

#[test]
fn every_kind_of_column_and_index() {
    let (c, mut db) = cluster("migrate-kinds", 5556);
    db.batch_execute(
        "CREATE TABLE docs (id int PRIMARY KEY, h halfvec(8), s sparsevec(100), e vector(8), cat int,
                            b bit(64));
         INSERT INTO docs SELECT i,
                (SELECT array_agg(sin(i * 0.7 + j)) FROM generate_series(1, 8) j)::halfvec,
                ('{' || (i % 50) + 1 || ':' || (i % 13) + 1 || ',' || (i % 47) + 51 || ':1}/100')::sparsevec,
                (SELECT array_agg(cos(i * 0.3 + j)) FROM generate_series(1, 8) j)::vector,
                i % 4,
                (SELECT string_agg(((i * j + j / 3) % 5 < 2)::int::text, '')
                   FROM generate_series(1, 64) j)::bit(64)
           FROM generate_series(1, 3000) i;
         CREATE INDEX docs_b ON docs USING hnsw (b bit_hamming_ops);
         CREATE INDEX docs_h ON docs USING hnsw (h halfvec_l2_ops);
         CREATE INDEX docs_s ON docs USING hnsw (s sparsevec_l2_ops);
         CREATE INDEX docs_e_ivf ON docs USING ivfflat (e vector_l2_ops) WITH (lists = 10);
         CREATE INDEX docs_e_partial ON docs USING hnsw (e vector_cosine_ops) WHERE cat = 1;
         CREATE TABLE parted (id int, e vector(8), PRIMARY KEY (id)) PARTITION BY RANGE (id);
         CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (0) TO (1500);
         CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (1500) TO (3001);
         INSERT INTO parted SELECT id, e FROM docs;
         CREATE INDEX parted_e ON parted USING hnsw (e vector_l2_ops);
         ANALYZE docs, parted;",
    )
    .unwrap();
    let before: Vec<(i32, String, String, String)> = db
        .query(
            "SELECT id, h::text, s::text, e::text FROM docs ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    for column in ["h", "s", "e", "b"] {
        let out = migrate_ok(&c, &["run", "docs", column, "--tune-recall"]);
        assert!(out.contains("PASSED"), "{out}");
    }
    let out = migrate_ok(&c, &["run", "parted", "e", "--tune-recall"]);
    assert!(out.contains("PASSED"), "{out}");
    assert_eq!(column_type(&mut db, "docs", "h"), "ruvector.halfvec(8)");
    assert_eq!(column_type(&mut db, "docs", "s"), "ruvector.sparsevec(100)");
    assert_eq!(column_type(&mut db, "docs", "e"), "ruvector(8)");
    for p in ["parted", "parted_a", "parted_b"] {
        assert_eq!(column_type(&mut db, p, "e"), "ruvector(8)");
    }
    for (index, am) in [
        ("docs_h", "ruhnsw"),
        ("docs_s", "ruhnsw"),
        ("docs_e_ivf", "ruivfflat"),
        ("docs_e_partial", "ruhnsw"),
        ("docs_b", "ruhnsw"),
        ("parted_e", "ruhnsw"),
    ] {
        assert_eq!(index_am(&mut db, index), (am.to_string(), true), "{index}");
    }
    let predicate: String = db
        .query_one(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'docs_e_partial'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(predicate, "(cat = 1)");
    let after: Vec<(i32, String, String, String)> = db
        .query(
            "SELECT id, h::text, s::text, e::text FROM docs ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(after, before, "values changed in the migration");
    // each partition's index is attached to the parent's
    let attached: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'parted_e'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(attached, 2);
    // a bit column keeps its type: only its index moved
    assert_eq!(column_type(&mut db, "docs", "b"), "bit(64)");
    for column in ["h", "s", "e", "b"] {
        migrate_ok(&c, &["cleanup", "docs", column]);
    }
    migrate_ok(&c, &["cleanup", "parted", "e"]);
    db.batch_execute("DROP EXTENSION vector").unwrap();
}
