// ruhnsw on small tables: index scans agree with exact sequential scans after build, inserts and
// deletes; options are validated; empty and unlogged indexes work.

/// ids of `query` through the index (checked with EXPLAIN) or by a sequential scan.
fn knn(query: &str, use_index: bool) -> Vec<i32> {
    Spi::run(if use_index {
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on"
    } else {
        "SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = on"
    })
    .unwrap();
    let plan = explain(query);
    assert_eq!(plan.contains("Index Scan"), use_index, "{query}:\n{plan}");
    Spi::connect(|c| {
        c.select(query, None, &[])
            .unwrap()
            .map(|r| r.get::<i32>(1).unwrap().unwrap())
            .collect()
    })
}

fn explain(query: &str) -> String {
    Spi::connect(|c| {
        c.select(&format!("EXPLAIN (COSTS OFF) {query}"), None, &[])
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// A deterministic grid-ish 3-d table of `n` rows.
fn grid_table(name: &str, n: i32) {
    Spi::run(&format!(
        "CREATE TABLE {name} (id int, v ruvector(3));
         INSERT INTO {name} SELECT i, ARRAY[i % 17, (i * 7) % 23, (i * 13) % 29]::ruvector
         FROM generate_series(1, {n}) i"
    ))
    .unwrap();
}

fn assert_index_matches_exact(table: &str, q: &str) {
    Spi::run("SET LOCAL ruvector.ef_search = 200").unwrap();
    // (no tie-breaker: an index can only serve an ORDER BY that is its operator alone)
    let query = format!("SELECT id FROM {table} ORDER BY v <-> '{q}' LIMIT 20");
    let by_index = knn(&query, true);
    let exact = knn(&query, false);
    // Ties may come in any order: compare the distance sequences.
    let dist = |ids: &[i32]| -> Vec<f64> {
        ids.iter()
            .map(|id| {
                Spi::get_one::<f64>(&format!("SELECT v <-> '{q}' FROM {table} WHERE id = {id}"))
                    .unwrap()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(dist(&by_index), dist(&exact), "{table} {q}");
}

#[pg_test]
fn ruhnsw_build_scan_matches_exact() {
    grid_table("hb", 2000);
    Spi::run("CREATE INDEX hb_idx ON hb USING ruhnsw (v ruvector_l2_ops) WITH (m = 8, ef_construction = 32)").unwrap();
    let q = "SELECT id FROM hb ORDER BY v <-> '[3,4,5]' LIMIT 5";
    assert!(explain(q).contains("Index Scan using hb_idx on hb"), "{}", explain(q));
    for q in ["[3,4,5]", "[0,0,0]", "[16,22,28]", "[8.5,11.5,14.5]"] {
        assert_index_matches_exact("hb", q);
    }
    let stats = Spi::get_one::<pgrx::JsonB>("SELECT ruvector_index_stats('hb_idx')")
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(stats["access_method"], "ruhnsw");
    assert_eq!(stats["m"], 8);
    assert_eq!(stats["ef_construction"], 32);
    assert_eq!(stats["heap_tuples"], 2000);
    // 2000 rows over 17·23·29 combinations: every value is distinct
    assert_eq!(stats["elements"], 2000);
}

#[pg_test]
fn ruhnsw_inserts_and_deletes() {
    Spi::run("CREATE TABLE hi (id int, v ruvector(3))").unwrap();
    Spi::run("CREATE INDEX hi_idx ON hi USING ruhnsw (v ruvector_l2_ops)").unwrap();
    // built empty, filled by inserts
    Spi::run(
        "INSERT INTO hi SELECT i, ARRAY[i % 17, (i * 7) % 23, (i * 13) % 29]::ruvector
         FROM generate_series(1, 1500) i",
    )
    .unwrap();
    for q in ["[3,4,5]", "[16,22,28]"] {
        assert_index_matches_exact("hi", q);
    }
    // (VACUUM cannot run in a test transaction: see regress/sql/ruhnsw.sql)
    Spi::run("DELETE FROM hi WHERE id % 5 = 0").unwrap();
    for q in ["[3,4,5]", "[16,22,28]"] {
        assert_index_matches_exact("hi", q);
    }
}

#[pg_test]
fn ruhnsw_duplicates_share_elements() {
    Spi::run(
        "CREATE TABLE hd (id int, v ruvector(2));
         INSERT INTO hd SELECT i, ARRAY[i % 3, 1]::ruvector FROM generate_series(1, 30) i;
         CREATE INDEX hd_idx ON hd USING ruhnsw (v ruvector_l2_ops);
         INSERT INTO hd SELECT i, ARRAY[i % 3, 1]::ruvector FROM generate_series(31, 36) i",
    )
    .unwrap();
    let stats = Spi::get_one::<pgrx::JsonB>("SELECT ruvector_index_stats('hd_idx')")
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(stats["heap_tuples"], 36);
    // 3 distinct values × ⌈12 rows / 10 per element⌉
    assert_eq!(stats["elements"], 6);
    let n = knn("SELECT id FROM hd ORDER BY v <-> '[0,1]' LIMIT 100", true).len();
    assert_eq!(n, 36);
}

#[pg_test(error = "ef_construction must be greater than or equal to 2 * m")]
fn ruhnsw_rejects_small_ef_construction() {
    Spi::run(
        "CREATE TABLE he (v ruvector(3));
         CREATE INDEX ON he USING ruhnsw (v ruvector_l2_ops) WITH (m = 16, ef_construction = 16)",
    )
    .unwrap();
}

#[pg_test(error = "column does not have dimensions")]
fn ruhnsw_requires_dimensions() {
    Spi::run("CREATE TABLE hn (v ruvector); CREATE INDEX ON hn USING ruhnsw (v ruvector_l2_ops)")
        .unwrap();
}

#[pg_test(error = "column cannot have more than 64000 dimensions for ruhnsw index")]
fn ruhnsw_dimension_limit() {
    Spi::run("CREATE TABLE hx (v bit(64001)); CREATE INDEX ON hx USING ruhnsw (v bit_hamming_ops)")
        .unwrap();
}

/// Past pgvector's 2,000 dimensions an unquantized image is split over code pages (format
/// version 4): the index builds, takes inserts, and finds each row's own vector first.
#[pg_test]
fn ruhnsw_indexes_past_2000_dimensions() {
    let rows = |from: i32, to: i32| {
        format!(
            "INSERT INTO hw SELECT i, (SELECT array_agg(sin(i * 0.1 + j))
                                         FROM generate_series(1, 2100) j)::ruvector
               FROM generate_series({from}, {to}) i;"
        )
    };
    Spi::run(&format!(
        "CREATE TABLE hw (id int, v ruvector(2100)); {}
         CREATE INDEX hw_idx ON hw USING ruhnsw (v ruvector_l2_ops); {}",
        rows(1, 50),
        rows(51, 60)
    ))
    .unwrap();
    let stats = Spi::get_one::<String>(
        "SELECT (s ->> 'format_version') || ' ' || (s ->> 'code_parts')
           FROM ruvector_index_stats('hw_idx') s",
    )
    .unwrap();
    assert_eq!(stats.as_deref(), Some("4 2"));
    Spi::run("SET LOCAL enable_seqscan = off").unwrap();
    for id in [3, 42, 55] {
        let nearest = Spi::get_one::<i32>(&format!(
            "SELECT id FROM hw ORDER BY v <-> (SELECT v FROM hw WHERE id = {id}) LIMIT 1"
        ))
        .unwrap();
        assert_eq!(nearest, Some(id));
    }
}

#[pg_test]
fn ruhnsw_other_opclasses_and_unlogged() {
    Spi::run(
        "CREATE UNLOGGED TABLE ho (id int, v ruvector(3), h halfvec(3), s sparsevec(3), b bit(3));
         INSERT INTO ho SELECT i, ARRAY[i % 17 + 1, (i * 7) % 23, (i * 13) % 29]::ruvector,
            ARRAY[i % 17 + 1, (i * 7) % 23, (i * 13) % 29]::halfvec,
            ARRAY[i % 17 + 1, (i * 7) % 23, (i * 13) % 29]::sparsevec,
            (i % 8)::bit(3)
         FROM generate_series(1, 500) i;
         CREATE INDEX ON ho USING ruhnsw (v ruvector_cosine_ops);
         CREATE INDEX ON ho USING ruhnsw (v ruvector_ip_ops);
         CREATE INDEX ON ho USING ruhnsw (v ruvector_l1_ops);
         CREATE INDEX ON ho USING ruhnsw (h halfvec_l2_ops);
         CREATE INDEX ON ho USING ruhnsw (s sparsevec_cosine_ops);
         CREATE INDEX ON ho USING ruhnsw (b bit_hamming_ops);",
    )
    .unwrap();
    Spi::run("SET LOCAL ruvector.ef_search = 200").unwrap();
    for (col, op, q) in [
        ("v", "<=>", "'[1,2,3]'::ruvector"),
        ("v", "<#>", "'[1,2,3]'::ruvector"),
        ("v", "<+>", "'[1,2,3]'::ruvector"),
        ("h", "<->", "'[1,2,3]'::halfvec"),
        ("s", "<=>", "'{1:1,2:2,3:3}/3'::sparsevec"),
        ("b", "<~>", "B'101'"),
    ] {
        let query = format!("SELECT id FROM ho ORDER BY {col} {op} {q} LIMIT 10");
        let dists = |ids: Vec<i32>| -> Vec<f64> {
            ids.iter()
                .map(|id| {
                    Spi::get_one::<f64>(&format!("SELECT {col} {op} {q} FROM ho WHERE id = {id}"))
                        .unwrap()
                        .unwrap()
                })
                .collect()
        };
        let (a, b) = (dists(knn(&query, true)), dists(knn(&query, false)));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{col} {op}: {a:?} vs {b:?}");
        }
    }
}
