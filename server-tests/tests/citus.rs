//! ruvector in a Citus cluster (issue "Beyond one server", part 4): a coordinator and two
//! workers on this machine, `ruvector` distributed to the workers with Citus's own object
//! propagation, and glove-100k rows (cosine) in two hash-distributed tables of 32 shards each
//! (`items` by id, `items_t` by `tenant_id`):
//!
//! * `CREATE INDEX ... USING ruhnsw` on the coordinator gives every shard its own valid
//!   `ruhnsw` index (seen in the workers' catalogs, checked by `ruvector_index_check`);
//! * `ORDER BY embedding <=> $1 LIMIT 10` runs as one task per shard, each an index scan under
//!   the pushed-down LIMIT, merged by a Sort + Limit on the coordinator, and at ef_search 400
//!   answers exactly what the same query over sequential scans answers;
//! * `WHERE id = $1` and `WHERE tenant_id = $1 ORDER BY embedding <=> $2 LIMIT 10` are
//!   router plans of one task, the second an index scan giving the exact filtered top-10;
//! * after inserts and deletes through the coordinator the answers stay exact and every shard's
//!   index passes `ruvector_index_check`.
//!
//! Citus sends none of the session's settings to the shard queries: a plain `SET
//! ruvector.ef_search` (or `enable_seqscan`) on the coordinator leaves the workers at their
//! defaults. `SET LOCAL` inside a transaction block does reach them when
//! `citus.propagate_set_commands = 'local'`; the test asserts both, through
//! `current_setting('ruvector.ef_search')` evaluated in the shard queries.
//!
//! Shards of 125 rows are cheaper to sort than to search, so the shard planner picks
//! sequential scans unless `enable_seqscan = off` reaches it the same way.
//!
//! It runs when Citus is installed for the PostgreSQL under test (`citus.so` in
//! `pg_config --pkglibdir`; Citus 14.0 supports PostgreSQL 16–18) and is skipped otherwise.
//! Verified with Citus 14.0.1 on PostgreSQL 18.6.

use postgres::Client;
use ruvector_bench::dataset::{recall, Dataset, Metric};
use ruvector_bench::wire::VectorParam;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{copy_rows, create_table, glove, truth_over};
use ruvector_server_tests::gate;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// Rows loaded: 4,000 over 32 shards.
const ROWS: usize = 4000;
/// Queries compared per check.
const QUERIES: usize = 30;
const SHARDS: usize = 32;

/// `citus.local_hostname`: the nodes reach each other (and the coordinator itself) over the
/// socket directory, since the test clusters listen on no TCP address.
const SETTINGS: &[&str] = &[
    "shared_preload_libraries = 'citus'",
    "citus.local_hostname = '/tmp'",
    "shared_buffers = 128MB",
    "max_wal_size = 4GB",
];

/// Every statement of a kNN query sent to the shards runs with these, inside the transaction
/// (`SET LOCAL`, propagated with `citus.propagate_set_commands = 'local'`).
const INDEX: &str = "SET LOCAL enable_seqscan = off; SET LOCAL ruvector.ef_search = 400";
const SEQSCAN: &str = "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off";

/// Distances closer than this are ties: the index ranks rows by single-precision distances,
/// `<=>` reports a double, so rows within ~1e-7 of each other may come back in either order.
const TIE: f64 = 1e-6;

/// `citus.so` of the PostgreSQL under test (the `pg_config` that `Install::current` reads),
/// if it is installed.
fn citus_library() -> (PathBuf, bool) {
    let pg_config = std::env::var("PG_CONFIG")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pg_config".to_string());
    let out = Command::new(&pg_config)
        .arg("--pkglibdir")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {pg_config}: {e}"));
    let lib = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("citus.so");
    let installed = lib.exists();
    (lib, installed)
}

/// The text literal of a vector (EXPLAIN of a Citus query cannot take parameters: the
/// workers' plans come back as "Could not get remote plan").
fn literal(v: &[f32]) -> String {
    let xs: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("'[{}]'::ruvector", xs.join(","))
}

fn knn_sql(table: &str, tenant: bool) -> String {
    if tenant {
        format!(
            "SELECT id, embedding <=> $2 FROM {table} WHERE tenant_id = $1 \
             ORDER BY embedding <=> $2 LIMIT 10"
        )
    } else {
        format!("SELECT id, embedding <=> $1 FROM {table} ORDER BY embedding <=> $1 LIMIT 10")
    }
}

/// (id, distance) rows of the kNN query in a transaction after `setup` (SET LOCALs).
fn knn(
    client: &mut Client,
    setup: &str,
    table: &str,
    tenant: Option<i32>,
    q: &[f32],
) -> Vec<(i64, f64)> {
    let mut tx = client.transaction().unwrap();
    tx.batch_execute(setup).unwrap();
    let sql = knn_sql(table, tenant.is_some());
    let rows = match tenant {
        Some(t) => tx.query(&sql, &[&t, &VectorParam(q)]),
        None => tx.query(&sql, &[&VectorParam(q)]),
    }
    .unwrap();
    tx.commit().unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// EXPLAIN (VERBOSE, COSTS OFF) of the kNN query (vector and tenant as literals) in a
/// transaction after `setup`, one line per plan line.
fn knn_plan(
    client: &mut Client,
    setup: &str,
    table: &str,
    tenant: Option<i32>,
    q: &[f32],
) -> Vec<String> {
    let sql = knn_sql(table, tenant.is_some())
        .replace("$2", &literal(q))
        .replace("$1", &tenant.map_or_else(|| literal(q), |t| t.to_string()));
    let mut tx = client.transaction().unwrap();
    tx.batch_execute(setup).unwrap();
    let plan = tx
        .query(&format!("EXPLAIN (VERBOSE, COSTS OFF) {sql}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0).trim().to_string())
        .collect();
    tx.commit().unwrap();
    plan
}

/// Asserts `got` is the exact answer `exact`: the same distances in the same order, the same
/// ids except among rows tied with the last distance (both up to [`TIE`]).
fn assert_same_answers(got: &[(i64, f64)], exact: &[(i64, f64)], what: &str) {
    let same_distances =
        got.len() == exact.len() && got.iter().zip(exact).all(|(g, e)| (g.1 - e.1).abs() <= TIE);
    let last = exact.last().map_or(f64::INFINITY, |e| e.1);
    let before_last = |v: &[(i64, f64)]| -> BTreeSet<i64> {
        v.iter().filter(|r| r.1 < last - TIE).map(|r| r.0).collect()
    };
    assert!(
        same_distances && before_last(got) == before_last(exact),
        "{what}: not the exact answer\n  got   {got:?}\n  exact {exact:?}"
    );
}

/// The value of `ruvector.ef_search` in the shard queries of a multi-shard SELECT, after
/// `session` (plain SETs) and, in the transaction, `local` (SET LOCALs).
fn ef_search_on_shards(client: &mut Client, session: &str, local: &str) -> Vec<String> {
    client.batch_execute(session).unwrap();
    let mut tx = client.transaction().unwrap();
    tx.batch_execute(local).unwrap();
    let seen = tx
        .query(
            "SELECT DISTINCT current_setting('ruvector.ef_search', true) FROM items",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().unwrap();
    seen
}

/// Index answers across all shards equal sequential-scan answers for the first `QUERIES`
/// queries; returns their recall@10 against the exact ground truth over `rows`.
fn assert_exact_across_shards(client: &mut Client, ds: &Dataset, rows: &[usize]) -> f64 {
    let truth = truth_over(ds, rows, Metric::Cosine);
    let mut sum = 0.0;
    for (q, truth) in truth.iter().enumerate().take(QUERIES) {
        let v = ds.queries.row(q);
        let got = knn(client, INDEX, "items", None, v);
        let exact = knn(client, SEQSCAN, "items", None, v);
        assert_same_answers(&got, &exact, &format!("items, query {q}"));
        let ids: Vec<u32> = got.iter().map(|r| r.0 as u32).collect();
        sum += recall(&ids, truth, 10);
    }
    sum / QUERIES as f64
}

/// `ruvector_index_check(index, true)` of every shard of `table`'s one index, asserted healthy
/// (no problem, every row found) on each; returns the rows the checks found.
fn check_shard_indexes(client: &mut Client, table: &str) -> i64 {
    let sql = format!(
        "SELECT shardid, success, result FROM run_command_on_shards('{table}', $$
             SELECT ruvector_index_check(indexrelid, true)::text FROM pg_index
             WHERE indrelid = '%s'::regclass $$)"
    );
    let mut total = 0;
    let reports = client.query(&sql, &[]).unwrap();
    assert_eq!(reports.len(), SHARDS);
    for r in reports {
        let (shard, success, text): (i64, bool, String) = (r.get(0), r.get(1), r.get(2));
        assert!(success, "index check of shard {shard} failed: {text}");
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["ok"], true, "shard {shard}: {report}");
        assert_eq!(
            report["heapallindexed"]["missing"], 0,
            "shard {shard}: {report}"
        );
        total += report["heapallindexed"]["table_rows"].as_i64().unwrap();
    }
    total
}

#[test]
fn distributed_tables() {
    let (lib, installed) = citus_library();
    if !installed {
        println!(
            "skipped: Citus is not installed for the PostgreSQL under test ({} is missing)",
            lib.display()
        );
        return;
    }
    let ds = glove(Metric::Cosine);
    let coordinator = Cluster::new("citus-coordinator", 5630, SETTINGS).unwrap();
    let workers = [
        Cluster::new("citus-worker-1", 5631, SETTINGS).unwrap(),
        Cluster::new("citus-worker-2", 5632, SETTINGS).unwrap(),
    ];
    for w in &workers {
        w.connect("postgres")
            .unwrap()
            .batch_execute("CREATE EXTENSION citus")
            .unwrap();
    }
    // ruvector is created on the coordinator only: adding a node creates it there too.
    let mut client = coordinator.connect("postgres").unwrap();
    client
        .batch_execute("CREATE EXTENSION citus; CREATE EXTENSION ruvector")
        .unwrap();
    client
        .execute(
            "SELECT citus_set_coordinator_host('/tmp', $1)",
            &[&(coordinator.port as i32)],
        )
        .unwrap();
    for w in &workers {
        client
            .execute("SELECT citus_add_node('/tmp', $1)", &[&(w.port as i32)])
            .unwrap();
        let version: String = w
            .connect("postgres")
            .unwrap()
            .query_one(
                "SELECT extversion FROM pg_extension WHERE extname = 'ruvector'",
                &[],
            )
            .unwrap()
            .get(0);
        println!("{}: ruvector {version}", w.name);
    }
    let citus: String = client
        .query_one("SELECT citus_version()", &[])
        .unwrap()
        .get(0);
    println!("{citus}");

    // Rows go in through the coordinator: binary COPY into a local table, INSERT ... SELECT
    // into the distributed ones.
    create_table(&mut client, "staging", ds.base.dim).unwrap();
    copy_rows(&mut client, "staging", &ds, 0..ROWS).unwrap();
    // One statement at a time: Citus sends a CREATE INDEX to the workers with the text of the
    // whole query string, which they refuse when it holds several statements ("cannot insert
    // multiple commands into a prepared statement"), for any index.
    for (table, column) in [("items", "id"), ("items_t", "tenant_id")] {
        for sql in [
            format!("CREATE TABLE {table} (id bigint, tenant_id int, embedding ruvector(50))"),
            format!("SELECT create_distributed_table('{table}', '{column}')"),
            format!("INSERT INTO {table} SELECT id, id % 20, embedding FROM staging"),
            format!(
                "CREATE INDEX {table}_hnsw ON {table} USING ruhnsw (embedding ruvector_cosine_ops)"
            ),
            format!("ANALYZE {table}"),
        ] {
            client.batch_execute(&sql).unwrap();
        }
    }

    // Every shard has its own valid ruhnsw index, on the worker that holds the shard.
    let shards: BTreeSet<String> = client
        .query(
            "SELECT 'items_hnsw_' || shardid FROM pg_dist_shard WHERE logicalrelid = 'items'::regclass",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(shards.len(), SHARDS);
    let mut found = BTreeSet::new();
    for w in &workers {
        let mut wc = w.connect("postgres").unwrap();
        wc.batch_execute("SET citus.override_table_visibility = off")
            .unwrap();
        let here: Vec<String> = wc
            .query(
                "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                 JOIN pg_am am ON am.oid = c.relam
                 WHERE c.relname ~ '^items_hnsw_[0-9]+$' AND am.amname = 'ruhnsw'
                   AND i.indisvalid AND i.indisready",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        println!("{}: {} shard indexes of items", w.name, here.len());
        assert!(!here.is_empty());
        found.extend(here);
    }
    assert_eq!(found, shards);
    assert_eq!(check_shard_indexes(&mut client, "items"), ROWS as i64);

    // Which settings reach the shard queries: a plain SET does not, SET LOCAL does once
    // citus.propagate_set_commands is 'local'.
    let default = ef_search_on_shards(&mut client, "SET ruvector.ef_search = 400", "");
    assert_eq!(default, ["40"], "a session SET reached the workers");
    let unpropagated = ef_search_on_shards(
        &mut client,
        "RESET ruvector.ef_search",
        "SET LOCAL ruvector.ef_search = 400",
    );
    assert_eq!(unpropagated, ["40"]);
    let local = ef_search_on_shards(
        &mut client,
        "SET citus.propagate_set_commands = 'local'",
        "SET LOCAL ruvector.ef_search = 400",
    );
    assert_eq!(local, ["400"]);
    println!(
        "ruvector.ef_search in the shard queries: {default:?} after SET, {local:?} after \
         SET LOCAL with citus.propagate_set_commands = 'local'"
    );

    // kNN across shards: one index scan per shard under the pushed-down LIMIT, merged on the
    // coordinator.
    let q0 = ds.queries.row(0);
    let plan = knn_plan(&mut client, INDEX, "items", None, q0);
    let text = plan.join("\n");
    assert_eq!(plan[0], "Limit", "{text}");
    assert!(plan[2].ends_with("Sort"), "{text}");
    assert!(plan[5].ends_with("Custom Scan (Citus Adaptive)"), "{text}");
    assert!(plan.contains(&format!("Task Count: {SHARDS}")), "{text}");
    let task = plan.iter().find(|l| l.starts_with("Query: ")).unwrap();
    assert!(task.ends_with("LIMIT '10'::bigint"), "{text}");
    assert!(
        plan.iter()
            .any(|l| l.starts_with("->  Index Scan using items_hnsw_")),
        "{text}"
    );
    // Without the SET LOCALs the shards sort sequential scans of their 125 rows.
    let plain = knn_plan(&mut client, "", "items", None, q0);
    assert!(
        plain
            .iter()
            .any(|l| l.starts_with("->  Seq Scan on public.items_")),
        "{}",
        plain.join("\n")
    );
    let all: Vec<usize> = (0..ROWS).collect();
    let r = assert_exact_across_shards(&mut client, &ds, &all);
    gate("items, 32 shards, ef_search 400: recall@10", r, 0.99);
    println!("items: index answers = sequential scan's for {QUERIES} queries");

    // Routed by the distribution column: one task.
    let mut tx = client.transaction().unwrap();
    let routed = tx
        .query(
            &format!(
                "EXPLAIN (VERBOSE, COSTS OFF) SELECT id, embedding <=> {} FROM items WHERE id = 1234",
                literal(q0)
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0).trim().to_string())
        .collect::<Vec<_>>();
    assert!(
        routed.contains(&"Task Count: 1".to_string()),
        "{}",
        routed.join("\n")
    );
    let row = tx
        .query_one(
            "SELECT id, tenant_id, embedding <=> $2 FROM items WHERE id = $1",
            &[&1234i64, &VectorParam(q0)],
        )
        .unwrap();
    tx.commit().unwrap();
    let (id, tenant, d): (i64, i32, f64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((id, tenant), (1234, 14));
    let exact = knn(&mut client, SEQSCAN, "items", None, q0);
    println!(
        "WHERE id = 1234: one task, distance {d:.6} (nearest {:.6})",
        exact[0].1
    );

    // Distributed by tenant: WHERE tenant_id = $1 goes to the one shard that holds the tenant,
    // where the index scan answers the exact filtered top-10.
    for q in 0..20 {
        let v = ds.queries.row(q);
        let t = q as i32;
        let plan = knn_plan(&mut client, INDEX, "items_t", Some(t), v);
        let text = plan.join("\n");
        assert!(plan.contains(&"Task Count: 1".to_string()), "{text}");
        assert!(
            plan.iter()
                .any(|l| l.starts_with("->  Index Scan using items_t_hnsw_")),
            "{text}"
        );
        let got = knn(&mut client, INDEX, "items_t", Some(t), v);
        let exact = knn(&mut client, SEQSCAN, "items_t", Some(t), v);
        assert_eq!(exact.len(), 10);
        assert_same_answers(&got, &exact, &format!("items_t, tenant {t}, query {q}"));
    }
    println!("items_t: WHERE tenant_id = t is one task; index answers = exact for 20 tenants");

    // Inserts and deletes through the coordinator: single-row INSERTs routed to their shards,
    // a multi-shard DELETE, VACUUM on every shard.
    let insert = client
        .prepare("INSERT INTO items (id, tenant_id, embedding) VALUES ($1, $2, $3)")
        .unwrap();
    for i in ROWS..ROWS + 500 {
        client
            .execute(
                &insert,
                &[
                    &(i as i64),
                    &((i % 20) as i32),
                    &VectorParam(ds.base.row(i)),
                ],
            )
            .unwrap();
    }
    let deleted = client
        .execute("DELETE FROM items WHERE id % 7 = 3", &[])
        .unwrap();
    client.batch_execute("VACUUM items").unwrap();
    let rows: Vec<usize> = (0..ROWS + 500).filter(|i| i % 7 != 3).collect();
    assert_eq!(deleted as usize, ROWS + 500 - rows.len());
    let r = assert_exact_across_shards(&mut client, &ds, &rows);
    gate(
        "items after inserts and deletes, ef_search 400: recall@10",
        r,
        0.99,
    );
    assert_eq!(check_shard_indexes(&mut client, "items"), rows.len() as i64);
    println!("after 500 inserts and {deleted} deletes: index answers = sequential scan's, every shard index healthy");
}
