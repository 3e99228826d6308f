//! Sharded kNN over `postgres_fdw` (issue "Beyond one server", part 3): three shard clusters
//! and a coordinator on this machine. Each shard holds a third of 30,000 glove-100k rows
//! (cosine) in its own `items` table with its own `ruhnsw` index; the coordinator has
//! `postgres_fdw` and `ruvector` (for the type and operators), one server per shard with
//! `extensions 'ruvector'`, the foreign tables `shard_1` .. `shard_3`, `items` partitioned by
//! HASH (id) over those foreign tables, and `items_all`, the same 30,000 rows in one local
//! table with one `ruhnsw` index (the one-server comparison, and the exact answers by
//! sequential scan).
//!
//! What the planner does with `ORDER BY embedding <=> $1 LIMIT 10` over the partitioned table
//! (asserted on the plans, PostgreSQL 15 and 18 alike):
//!
//! * with the servers' default options: Limit > Merge Append of one Foreign Scan per shard,
//!   each with the ORDER BY in its Remote SQL but never the LIMIT (postgres_fdw pushes a LIMIT
//!   only when the whole query is over one foreign table: its final-path pushdown is not
//!   applied per partition). Each shard runs the query as a cursor, planned for
//!   `cursor_tuple_fraction` of the rows: its index scan, which without a LIMIT returns
//!   `ef_search` rows, of which the coordinator fetches up to `fetch_size` (100) per shard;
//! * with `use_remote_estimate 'true'`, or without `extensions 'ruvector'` (the operator is
//!   then not shippable): Limit > Sort > Append of `SELECT id, embedding FROM items` — every
//!   row of every shard crosses the wire; `fdw_startup_cost` and `async_capable` change
//!   neither plan, and partitionwise settings do not apply to a plain ORDER BY ... LIMIT;
//!
//! so the documented query shape is a UNION ALL of per-shard subqueries, each with its own
//! `ORDER BY ... LIMIT k` (pushed to the shard whole: its index scan under the LIMIT), ordered
//! again on the coordinator. Its plan is a Merge Append of the three Foreign Scans (custom and
//! generic plans, with or without remote estimates). Inside a `WITH ... AS MATERIALIZED` CTE the
//! UNION ALL is an Append instead, and with `async_capable 'true'` on the servers its scans are
//! Async Foreign Scans: the shards search at the same time (a Merge Append never runs its
//! children asynchronously).
//!
//! `SET ruvector.ef_search` on the coordinator does not reach the shards' sessions (asserted
//! through a view on each shard that reports its session's setting); the server option
//! `options '-c ruvector.ef_search=N'` (libpq's `options`, which postgres_fdw accepts on
//! servers) does, and `ALTER SERVER ... OPTIONS (SET options ...)` takes effect at the next
//! query outside the current transaction (postgres_fdw drops connections whose server changed);
//! `ALTER DATABASE ... SET` on a shard works for new connections too.
//!
//! Asserted: at `ef_search` 1000 (reaching the shards) both forms of the shape, and the
//! partitioned table's Merge Append, answer exactly what a sequential scan over all rows
//! answers (30 queries); recall@10 of the shape at the default `ef_search` against a gate.
//! Printed only: QPS of the shape, the CTE shape (with and without async), one server with
//! all rows in one index, and the partitioned table (Merge Append, and Sort over Append
//! without `extensions`); rows and bytes per query from the shards to the coordinator.
//!
//! Rows per query are counted on the shards: the change of `seq_tup_read + idx_tup_fetch` of
//! their `items` tables (no query here filters or sorts on the shards, so every row their scans
//! produce goes to the coordinator; a shard that sorted a sequential scan would show as all its
//! rows, and fail the bound asserted for the partitioned table). Bytes are those rows times the
//! mean text width of the `(id, embedding)` rows the Remote SQL selects (postgres_fdw
//! transfers text) plus the 15 bytes of a DataRow message's framing: the payload, without
//! protocol round trips. Every form ships `embedding`: postgres_fdw computes the distance of a
//! pushed-down ORDER BY again on the coordinator, from the vector.
//!
//! Measured on a 2-core VM, PostgreSQL 15, coordinator and shards on it (QPS varies between
//! runs): recall@10 at ef_search 40 is 0.981 for the shape (three searches over ~10,000 rows
//! each, best 10 of 30) against 0.939 for one server with all 30,000 rows; the shape answers
//! about 460 QPS (530 as the async CTE, 460 without async), the partitioned table's Merge
//! Append 350, one server 3,500, the partitioned table without `extensions` 4. Per query the
//! shards send 30 rows (13 KB) for the shape, 120 (53 KB: `ef_search` rows from each shard) for
//! the partitioned Merge Append, and all 30,000 (13 MB) without `extensions`. The gap to one
//! server is postgres_fdw's per-query work: for each shard a remote transaction, a cursor
//! declared, fetched and closed, each a round trip, and the vectors parsed from text.

use postgres::types::{FromSql, Type};
use postgres::Client;
use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_bench::sweep::{Measure, Point};
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, create_table, glove, truth_over};
use ruvector_server_tests::gate;
use serde_json::Value;
use std::time::{Duration, Instant};

const ROWS: usize = 30_000;
const SHARDS: usize = 3;
/// The coordinator's port; shard `i` (1-based) listens on `PORT + i`.
const PORT: u16 = 5640;
/// Queries whose answers at ef_search 1000 are compared with a sequential scan's.
const EXACT_QUERIES: usize = 30;
/// Queries of each recall and QPS measurement.
const MEASURED: usize = 500;
/// Queries of the forms that ship every row (slow), and of each transfer count.
const FEW: usize = 20;
/// The shards' `ruvector.ef_search` for the exact comparison.
const EF_EXACT: i64 = 1000;

/// `autovacuum = off`: nothing but the test changes the tables or their statistics.
const SETTINGS: &[&str] = &[
    "shared_buffers = 128MB",
    "maintenance_work_mem = 256MB",
    "max_wal_size = 4GB",
    "checkpoint_timeout = 30min",
    "autovacuum = off",
];

const HNSW: &str = "ruhnsw (embedding ruvector_cosine_ops)";

/// Distances closer than this are ties: the index ranks rows by single-precision distances,
/// `<=>` reports a double, so rows within ~1e-7 of each other may come back in either order.
const TIE: f64 = 1e-6;

/// The value of a `json` column (`EXPLAIN (FORMAT JSON)`).
struct Json(Value);

impl<'a> FromSql<'a> for Json {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Json, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Json(serde_json::from_slice(raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON
    }
}

/// `EXPLAIN (FORMAT JSON, VERBOSE, COSTS OFF) sql` with the query vector as `$1`: the top
/// plan node.
fn explain(client: &mut Client, sql: &str, q: &[f32]) -> Value {
    let row = client
        .query_one(
            &format!("EXPLAIN (FORMAT JSON, VERBOSE, COSTS OFF) {sql}"),
            &[&VectorParam(q)],
        )
        .unwrap();
    let Json(v) = row.get(0);
    v[0]["Plan"].clone()
}

/// Every node of a plan, top down (CTE and init plans included).
fn nodes(node: &Value) -> Vec<&Value> {
    let mut all = vec![node];
    if let Some(children) = node["Plans"].as_array() {
        all.extend(children.iter().flat_map(nodes));
    }
    all
}

/// The Foreign Scans of a plan.
fn foreign_scans(plan: &Value) -> Vec<&Value> {
    nodes(plan)
        .into_iter()
        .filter(|n| n["Node Type"] == "Foreign Scan")
        .collect()
}

/// A plan as one line: node types (Async Foreign Scan for an async-capable one under an
/// Append), with the Remote SQL of foreign scans shortened to what matters here.
fn outline(node: &Value) -> String {
    let mut s = node["Node Type"].as_str().unwrap_or("?").to_string();
    if s == "Foreign Scan" {
        if node["Async Capable"] == true {
            s = "Async Foreign Scan".to_string();
        }
        let sql = remote_sql(node);
        let mut pushed = Vec::new();
        if sql.contains("ORDER BY") {
            pushed.push("ORDER BY");
        }
        if sql.contains("LIMIT") {
            pushed.push("LIMIT");
        }
        s.push_str(&format!(" (remote: {})", pushed.join(" + ")));
    }
    if let Some(children) = node["Plans"].as_array() {
        let inner: Vec<String> = children.iter().map(outline).collect();
        s.push_str(&format!(" > [{}]", inner.join(", ")));
    }
    s
}

fn remote_sql(scan: &Value) -> &str {
    scan["Remote SQL"].as_str().unwrap_or("")
}

/// Each shard's own `ORDER BY ... LIMIT 10`, as subqueries joined by UNION ALL.
fn per_shard_union() -> String {
    (1..=SHARDS)
        .map(|i| {
            format!(
                "(SELECT id, embedding <=> $1 AS d FROM shard_{i} ORDER BY embedding <=> $1 LIMIT 10)"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The documented shape: each shard's own ORDER BY ... LIMIT 10, merged by the ORDER BY ...
/// LIMIT 10 outside.
fn shape_sql(cols: &str) -> String {
    format!(
        "SELECT {cols} FROM ({}) s ORDER BY d LIMIT 10",
        per_shard_union()
    )
}

/// The shape with the UNION ALL in a materialized CTE: an Append, async with `async_capable`.
fn cte_sql(cols: &str) -> String {
    format!(
        "WITH s AS MATERIALIZED ({}) SELECT {cols} FROM s ORDER BY d LIMIT 10",
        per_shard_union()
    )
}

/// `ORDER BY embedding <=> $1 LIMIT 10` over `table`: the ids, and the distances with
/// `distance`.
fn plain_sql(table: &str, distance: bool) -> String {
    let cols = if distance {
        "id, embedding <=> $1"
    } else {
        "id"
    };
    format!("SELECT {cols} FROM {table} ORDER BY embedding <=> $1 LIMIT 10")
}

/// Asserts every Foreign Scan of `plan` has the kNN ORDER BY and `LIMIT 10` in its Remote SQL,
/// and there is one per shard.
fn assert_pushed_per_shard(plan: &Value, what: &str) {
    let scans = foreign_scans(plan);
    assert_eq!(scans.len(), SHARDS, "{what}: {}", outline(plan));
    for s in scans {
        let sql = remote_sql(s);
        assert!(
            sql.contains("ORDER BY (embedding OPERATOR(public.<=>)") && sql.contains("LIMIT 10"),
            "{what}: Remote SQL without the ORDER BY + LIMIT: {sql}"
        );
    }
}

/// Runs `sql` on the coordinator for query `q`: (id, distance) rows.
fn answers(client: &mut Client, sql: &str, q: &[f32]) -> Vec<(i32, f64)> {
    client
        .query(sql, &[&VectorParam(q)])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Asserts `got` is the exact answer `exact`: the same distances in the same order, the same
/// ids except among rows tied with the last distance (both up to [`TIE`]).
fn assert_same_answers(got: &[(i32, f64)], exact: &[(i32, f64)], what: &str) {
    let same_distances =
        got.len() == exact.len() && got.iter().zip(exact).all(|(g, e)| (g.1 - e.1).abs() <= TIE);
    let last = exact.last().map_or(f64::INFINITY, |e| e.1);
    let before_last = |v: &[(i32, f64)]| -> Vec<i32> {
        let mut ids: Vec<i32> = v.iter().filter(|r| r.1 < last - TIE).map(|r| r.0).collect();
        ids.sort();
        ids
    };
    assert!(
        same_distances && before_last(got) == before_last(exact),
        "{what}: not the exact answer\n  got   {got:?}\n  exact {exact:?}"
    );
}

/// `ruvector.ef_search` of each shard's session serving this coordinator session (the view
/// `ruvector_session` on the shards, through the foreign tables `session_i`).
fn shard_ef_search(client: &mut Client) -> Vec<String> {
    (1..=SHARDS)
        .map(|i| {
            client
                .query_one(&format!("SELECT ef_search, version FROM session_{i}"), &[])
                .unwrap()
                .get(0)
        })
        .collect()
}

/// Runs `sql` on every server in one statement: `{server}` is each server's name.
fn alter_servers(client: &mut Client, prefix: &str, sql: &str) {
    for i in 1..=SHARDS {
        client
            .batch_execute(&sql.replace("{server}", &format!("{prefix}{i}")))
            .unwrap();
    }
}

/// Recall@10 and QPS of `sql` (query vector `$1`, ids first) on the coordinator over the
/// first `queries` queries, one client, after a warm-up.
fn measure(c: &Cluster, ds: &Dataset, sql: &str, queries: usize) -> Point {
    let m = Measure {
        config: c.conninfo("postgres").parse().unwrap(),
        setup: vec![],
        sql: sql.to_string(),
        dataset: ds,
        queries,
        k: 10,
        clients: 1,
        index: None,
    };
    m.warm_up(queries.min(50)).unwrap();
    m.run(None, &indicatif::ProgressBar::hidden()).unwrap()
}

fn print_point(what: &str, p: &Point) {
    println!(
        "{what}: recall@10 {:.4}, {:.0} QPS, p50 {:.2} ms, p99 {:.2} ms ({} queries, 1 client)",
        p.recall, p.qps, p.p50_ms, p.p99_ms, p.queries
    );
}

/// Rows the shards' scans of `items` have produced so far (`seq_tup_read + idx_tup_fetch`).
fn shard_rows_read(shards: &[Cluster]) -> i64 {
    shards
        .iter()
        .map(|s| {
            let mut c = s.connect("postgres").unwrap();
            c.query_one(
                "SELECT (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int8
                   FROM pg_stat_user_tables WHERE relname = 'items'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
        })
        .sum()
}

/// Rows per query the shards send for `sql` (mean over `n` queries), and the time per query:
/// the shards' counters before and after, once the coordinator's connections to them are
/// closed (their sessions flush their statistics as they exit).
fn rows_per_query(
    coordinator: &mut Client,
    shards: &[Cluster],
    ds: &Dataset,
    sql: &str,
    n: usize,
) -> (f64, f64) {
    let settle = |coordinator: &mut Client| {
        coordinator
            .batch_execute("SELECT postgres_fdw_disconnect_all()")
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
    };
    settle(coordinator);
    let before = shard_rows_read(shards);
    let stmt = coordinator.prepare(sql).unwrap();
    let t = Instant::now();
    for q in 0..n {
        coordinator
            .query(&stmt, &[&VectorParam(ds.queries.row(q))])
            .unwrap();
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
    settle(coordinator);
    let after = shard_rows_read(shards);
    ((after - before) as f64 / n as f64, ms)
}

/// A shard: `items` with `rows`, its `ruhnsw` index, and the view `ruvector_session`.
fn start_shard(i: usize, ds: &Dataset, rows: &[usize]) -> Cluster {
    let c = Cluster::new(&format!("fdw-shard{i}"), PORT + i as u16, SETTINGS).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", ds, rows.iter().copied()).unwrap();
    client.batch_execute("VACUUM ANALYZE items").unwrap();
    client
        .batch_execute(&format!(
            "CREATE INDEX items_idx ON items USING {HNSW}; ANALYZE items;
             CREATE VIEW ruvector_session AS
                 SELECT ruvector_version() AS version,
                        current_setting('ruvector.ef_search') AS ef_search
                  WHERE ruvector_version() IS NOT NULL"
        ))
        .unwrap();
    c
}

#[test]
fn fdw_shards() {
    let started = Instant::now();
    let ds = glove(Metric::Cosine);
    let all: Vec<usize> = (0..ROWS).collect();
    let mut truth = ds.clone();
    truth.truth = truth_over(&ds, &all, Metric::Cosine);

    // The coordinator: servers, foreign tables, the partitioned table over them.
    let coord = Cluster::new("fdw-coordinator", PORT, SETTINGS).unwrap();
    let mut client = coord.with_extension().unwrap();
    let dim = ds.base.dim;
    let mut ddl = format!(
        "CREATE EXTENSION postgres_fdw;
         CREATE TABLE items (id int4 NOT NULL, embedding ruvector({dim})) PARTITION BY HASH (id);
         CREATE TABLE items_plain (id int4 NOT NULL, embedding ruvector({dim}))
             PARTITION BY HASH (id);"
    );
    for i in 1..=SHARDS {
        let port = PORT + i as u16 + (coord.port - PORT);
        let r = i - 1;
        ddl.push_str(&format!(
            "CREATE SERVER shard{i} FOREIGN DATA WRAPPER postgres_fdw
                 OPTIONS (host '/tmp', port '{port}', dbname 'postgres', extensions 'ruvector');
             CREATE USER MAPPING FOR postgres SERVER shard{i} OPTIONS (user 'postgres');
             CREATE FOREIGN TABLE shard_{i} (id int4 NOT NULL, embedding ruvector({dim}))
                 SERVER shard{i} OPTIONS (table_name 'items');
             ALTER TABLE items ATTACH PARTITION shard_{i}
                 FOR VALUES WITH (MODULUS {SHARDS}, REMAINDER {r});
             CREATE FOREIGN TABLE session_{i} (version text, ef_search text)
                 SERVER shard{i} OPTIONS (table_name 'ruvector_session');
             CREATE SERVER plain{i} FOREIGN DATA WRAPPER postgres_fdw
                 OPTIONS (host '/tmp', port '{port}', dbname 'postgres');
             CREATE USER MAPPING FOR postgres SERVER plain{i} OPTIONS (user 'postgres');
             CREATE FOREIGN TABLE plain_{i} PARTITION OF items_plain
                 FOR VALUES WITH (MODULUS {SHARDS}, REMAINDER {r})
                 SERVER plain{i} OPTIONS (table_name 'items');"
        ));
    }
    client.batch_execute(&ddl).unwrap();
    // Which rows go to which shard: PostgreSQL's own hash of the partition key.
    let shard_rows: Vec<Vec<usize>> = (0..SHARDS)
        .map(|r| {
            client
                .query(
                    "SELECT i FROM generate_series(0, $1 - 1) i
                      WHERE satisfies_hash_partition('items'::regclass, $2, $3, i)",
                    &[&(ROWS as i32), &(SHARDS as i32), &(r as i32)],
                )
                .unwrap()
                .iter()
                .map(|row| row.get::<_, i32>(0) as usize)
                .collect()
        })
        .collect();
    println!(
        "rows per shard: {:?}",
        shard_rows.iter().map(Vec::len).collect::<Vec<_>>()
    );

    // Load and index the shards and the coordinator's one-table copy at once.
    let t = Instant::now();
    let shards: Vec<Cluster> = std::thread::scope(|s| {
        let handles: Vec<_> = shard_rows
            .iter()
            .enumerate()
            .map(|(r, rows)| {
                let ds = &ds;
                s.spawn(move || start_shard(r + 1, ds, rows))
            })
            .collect();
        create_table(&mut client, "items_all", dim).unwrap();
        copy_rows(&mut client, "items_all", &ds, 0..ROWS).unwrap();
        client.batch_execute("VACUUM ANALYZE items_all").unwrap();
        client
            .batch_execute(&format!(
                "CREATE INDEX items_all_idx ON items_all USING {HNSW};
                 ANALYZE items_all"
            ))
            .unwrap();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    client.batch_execute("ANALYZE items").unwrap();
    println!(
        "3 shards loaded and indexed, one table of {ROWS} indexed: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let total: i64 = client
        .query_one("SELECT count(*) FROM items", &[])
        .unwrap()
        .get(0);
    assert_eq!(total, ROWS as i64);
    let q0 = ds.queries.row(0);

    // 1. The partitioned table: ORDER BY pushed to each partition, the LIMIT never.
    let plan = explain(&mut client, &plain_sql("items", false), q0);
    println!("partitioned table, default options: {}", outline(&plan));
    assert!(
        nodes(&plan)
            .iter()
            .any(|n| n["Node Type"] == "Merge Append"),
        "{}",
        outline(&plan)
    );
    let scans = foreign_scans(&plan);
    assert_eq!(scans.len(), SHARDS, "{}", outline(&plan));
    for s in &scans {
        assert!(remote_sql(s).contains("ORDER BY"), "{}", remote_sql(s));
        assert!(!remote_sql(s).contains("LIMIT"), "{}", remote_sql(s));
    }
    for (option, value) in [
        ("use_remote_estimate", "true"),
        ("fdw_startup_cost", "100000"),
        ("async_capable", "true"),
    ] {
        client.batch_execute("BEGIN").unwrap();
        alter_servers(
            &mut client,
            "shard",
            &format!("ALTER SERVER {{server}} OPTIONS (ADD {option} '{value}')"),
        );
        let plan = explain(&mut client, &plain_sql("items", false), q0);
        client.batch_execute("ROLLBACK").unwrap();
        println!("partitioned table, {option} '{value}': {}", outline(&plan));
        assert_eq!(foreign_scans(&plan).len(), SHARDS);
        for s in foreign_scans(&plan) {
            assert!(
                !remote_sql(s).contains("LIMIT"),
                "{option}: the LIMIT reached a partition: {}",
                remote_sql(s)
            );
        }
    }
    client
        .batch_execute(
            "SET enable_partitionwise_aggregate = on; SET enable_partitionwise_join = on",
        )
        .unwrap();
    let plan = explain(&mut client, &plain_sql("items", false), q0);
    client
        .batch_execute("RESET enable_partitionwise_aggregate; RESET enable_partitionwise_join")
        .unwrap();
    println!(
        "partitioned table, partitionwise settings on: {}",
        outline(&plan)
    );
    assert!(foreign_scans(&plan)
        .iter()
        .all(|s| !remote_sql(s).contains("LIMIT")));
    let plan = explain(&mut client, &plain_sql("items_plain", false), q0);
    println!(
        "partitioned table, servers without extensions: {}",
        outline(&plan)
    );
    assert!(
        nodes(&plan).iter().any(|n| n["Node Type"] == "Sort"),
        "{}",
        outline(&plan)
    );
    for s in foreign_scans(&plan) {
        assert!(!remote_sql(s).contains("ORDER BY"), "{}", remote_sql(s));
    }

    // 2. The documented shape: ORDER BY + LIMIT in every shard's Remote SQL, in custom and
    // generic plans, with and without remote estimates.
    let plan = explain(&mut client, &shape_sql("id"), q0);
    println!("shape: {}", outline(&plan));
    println!(
        "  Remote SQL: {:.200}...",
        remote_sql(foreign_scans(&plan)[0])
    );
    assert_pushed_per_shard(&plan, "shape, custom plan");
    client
        .batch_execute(&format!(
            "PREPARE knn(ruvector) AS {}; SET plan_cache_mode = force_generic_plan",
            shape_sql("id")
        ))
        .unwrap();
    // EXPLAIN EXECUTE takes no protocol parameters: the vector as a literal.
    let literal: Vec<String> = q0.iter().map(|x| x.to_string()).collect();
    let row = client
        .query_one(
            &format!(
                "EXPLAIN (FORMAT JSON, VERBOSE, COSTS OFF) EXECUTE knn('[{}]')",
                literal.join(",")
            ),
            &[],
        )
        .unwrap();
    let Json(v) = row.get(0);
    let plan = v[0]["Plan"].clone();
    client
        .batch_execute("DEALLOCATE knn; RESET plan_cache_mode")
        .unwrap();
    println!(
        "  generic plan, Remote SQL: {}",
        remote_sql(foreign_scans(&plan)[0])
    );
    assert_pushed_per_shard(&plan, "shape, generic plan");
    assert!(remote_sql(foreign_scans(&plan)[0]).contains("$1::public.ruvector"));
    client.batch_execute("BEGIN").unwrap();
    alter_servers(
        &mut client,
        "shard",
        "ALTER SERVER {server} OPTIONS (ADD use_remote_estimate 'true')",
    );
    let plan = explain(&mut client, &shape_sql("id"), q0);
    client.batch_execute("ROLLBACK").unwrap();
    println!("shape, use_remote_estimate 'true': {}", outline(&plan));
    assert_pushed_per_shard(&plan, "shape, use_remote_estimate");

    // The CTE form: an Append, whose scans are async once the servers are async_capable.
    let plan = explain(&mut client, &cte_sql("id"), q0);
    println!("CTE shape: {}", outline(&plan));
    assert_pushed_per_shard(&plan, "CTE shape");
    alter_servers(
        &mut client,
        "shard",
        "ALTER SERVER {server} OPTIONS (ADD async_capable 'true')",
    );
    let plan = explain(&mut client, &cte_sql("id"), q0);
    println!("CTE shape, async_capable 'true': {}", outline(&plan));
    assert_pushed_per_shard(&plan, "CTE shape, async");
    assert!(
        foreign_scans(&plan)
            .iter()
            .all(|s| s["Async Capable"] == true),
        "not async: {}",
        outline(&plan)
    );
    let plan = explain(&mut client, &shape_sql("id"), q0);
    println!("shape, async_capable 'true': {}", outline(&plan));
    assert!(
        foreign_scans(&plan)
            .iter()
            .all(|s| s["Async Capable"] != true),
        "a Merge Append child ran async: {}",
        outline(&plan)
    );

    // 3. ruvector.ef_search: a SET on the coordinator stays there; the servers' libpq
    // `options` reach the shards' sessions (reconnected after ALTER SERVER).
    client
        .batch_execute("SET ruvector.ef_search = 400")
        .unwrap();
    let seen = shard_ef_search(&mut client);
    println!("after SET ruvector.ef_search = 400 on the coordinator, the shards use {seen:?}");
    assert!(seen.iter().all(|s| s == "40"), "{seen:?}");
    client.batch_execute("RESET ruvector.ef_search").unwrap();
    alter_servers(
        &mut client,
        "shard",
        &format!(
            "ALTER SERVER {{server}} OPTIONS (ADD options '-c ruvector.ef_search={EF_EXACT}')"
        ),
    );
    let seen = shard_ef_search(&mut client);
    println!("with the server option options '-c ruvector.ef_search={EF_EXACT}': {seen:?}");
    assert!(seen.iter().all(|s| *s == EF_EXACT.to_string()), "{seen:?}");
    {
        // ALTER DATABASE on a shard: for the shard's new sessions.
        let mut s3 = shards[2].connect("postgres").unwrap();
        s3.batch_execute("ALTER DATABASE postgres SET ruvector.ef_search = 77")
            .unwrap();
        client
            .batch_execute("ALTER SERVER shard3 OPTIONS (DROP options)")
            .unwrap();
        client
            .batch_execute("SELECT postgres_fdw_disconnect_all()")
            .unwrap();
        let seen = shard_ef_search(&mut client);
        println!("with ALTER DATABASE ... SET ruvector.ef_search = 77 on shard 3: {seen:?}");
        assert_eq!(seen[2], "77");
        s3.batch_execute("ALTER DATABASE postgres RESET ruvector.ef_search")
            .unwrap();
        client
            .batch_execute(&format!(
                "ALTER SERVER shard3 OPTIONS (ADD options '-c ruvector.ef_search={EF_EXACT}')"
            ))
            .unwrap();
        assert!(shard_ef_search(&mut client)
            .iter()
            .all(|s| *s == EF_EXACT.to_string()));
    }

    // 4. At ef_search 1000 on the shards: the exact answers (a sequential scan over all rows
    // on the coordinator), from both forms of the shape and from the partitioned table.
    let forms = [
        ("shape", shape_sql("id, d")),
        ("CTE shape", cte_sql("id, d")),
        ("partitioned table", plain_sql("items", true)),
    ];
    for q in 0..EXACT_QUERIES {
        let v = ds.queries.row(q);
        client
            .batch_execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
            .unwrap();
        let exact = answers(&mut client, &plain_sql("items_all", true), v);
        client
            .batch_execute("RESET enable_indexscan; RESET enable_bitmapscan")
            .unwrap();
        assert_eq!(exact.len(), 10);
        for (what, sql) in &forms {
            let got = answers(&mut client, sql, v);
            assert_same_answers(
                &got,
                &exact,
                &format!("{what}, ef_search {EF_EXACT} on the shards, query {q}"),
            );
        }
    }
    println!(
        "at ef_search {EF_EXACT} on the shards the shape, the CTE shape and the partitioned \
         table answer exactly for {EXACT_QUERIES} queries"
    );

    // 5. Recall and QPS at the shards' default ef_search (40), against one server.
    alter_servers(
        &mut client,
        "shard",
        "ALTER SERVER {server} OPTIONS (DROP options)",
    );
    client
        .batch_execute("SELECT postgres_fdw_disconnect_all()")
        .unwrap();
    assert!(shard_ef_search(&mut client).iter().all(|s| s == "40"));
    let one = measure(&coord, &truth, &plain_sql("items_all", false), MEASURED);
    print_point(
        "one server, 30,000 rows, one ruhnsw index, ef_search 40",
        &one,
    );
    let shape = measure(&coord, &truth, &shape_sql("id"), MEASURED);
    print_point("shape over 3 shards, ef_search 40", &shape);
    let cte_async = measure(&coord, &truth, &cte_sql("id"), MEASURED);
    print_point("CTE shape over 3 shards, async, ef_search 40", &cte_async);
    let partitioned = measure(&coord, &truth, &plain_sql("items", false), MEASURED);
    print_point(
        "partitioned table (Merge Append, ORDER BY pushed), ef_search 40",
        &partitioned,
    );
    alter_servers(
        &mut client,
        "shard",
        "ALTER SERVER {server} OPTIONS (SET async_capable 'false')",
    );
    let cte_sync = measure(&coord, &truth, &cte_sql("id"), MEASURED);
    print_point(
        "CTE shape over 3 shards, not async, ef_search 40",
        &cte_sync,
    );
    let naive = measure(&coord, &truth, &plain_sql("items_plain", false), FEW);
    print_point(
        "partitioned table without extensions (Sort over Append, every row)",
        &naive,
    );
    gate(
        "one server, 30,000 rows: recall@10 at ef_search 40",
        one.recall,
        0.92,
    );
    gate(
        "shape over 3 shards: recall@10 at ef_search 40",
        shape.recall,
        0.97,
    );
    gate(
        "CTE shape over 3 shards: recall@10 at ef_search 40",
        cte_async.recall,
        0.97,
    );
    println!(
        "QPS: shape {:.0}, CTE shape async {:.0} / not async {:.0}, one server {:.0}, \
         partitioned table {:.0}, without extensions {:.1}",
        shape.qps, cte_async.qps, cte_sync.qps, one.qps, partitioned.qps, naive.qps
    );

    // 6. What crosses the wire per query.
    // The text of a row as a shard's session sends it (postgres_fdw sets extra_float_digits).
    let width: f64 = {
        let mut c = shards[0].connect("postgres").unwrap();
        c.batch_execute("SET extra_float_digits = 3").unwrap();
        c.query_one(
            "SELECT avg(octet_length(id::text) + octet_length(embedding::text))::float8
               FROM items",
            &[],
        )
        .unwrap()
        .get(0)
    };
    println!(
        "rows sent by the shards per query (seq_tup_read + idx_tup_fetch), bytes = rows x \
         ({width:.0} bytes of text per (id, embedding) + 15 bytes of DataRow framing):"
    );
    let mut transfer = Vec::new();
    for (what, sql, n) in [
        ("shape", shape_sql("id"), FEW),
        (
            "partitioned table (Merge Append)",
            plain_sql("items", false),
            FEW,
        ),
        (
            "partitioned table without extensions",
            plain_sql("items_plain", false),
            5,
        ),
    ] {
        let (rows, ms) = rows_per_query(&mut client, &shards, &ds, &sql, n);
        let bytes = rows * (width + 15.0);
        println!(
            "  {what:<40} {rows:>8.1} rows  {:>10.0} bytes  ({ms:.2} ms per query)",
            bytes
        );
        transfer.push(rows);
    }
    assert!(
        transfer[0] <= (SHARDS * 11) as f64,
        "the shape read {} rows per query on the shards",
        transfer[0]
    );
    // The partitioned table's shards run their index scans: at most fetch_size (100) rows each.
    assert!(
        transfer[1] <= (SHARDS * 100) as f64,
        "the partitioned table read {} rows per query on the shards",
        transfer[1]
    );
    assert!(transfer[2] >= ROWS as f64, "{}", transfer[2]);
    println!("fdw_shards: {:.1} s", started.elapsed().as_secs_f64());
}
