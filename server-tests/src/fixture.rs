//! A database holding every ruvector type with indexes of both access methods, plain and
//! quantized, for the tests that carry a database across an upgrade (`ALTER EXTENSION UPDATE`,
//! `pg_upgrade`, dump and restore) and compare what its indexes answer before and after.
//!
//! One table per index, so that each query is answered by the index under test: GloVe rows as
//! `ruvector(50)`, `halfvec(50)`, `sparsevec(50)` (the elements above 0.3 in magnitude) and
//! `bit(50)` (`binary_quantize`), and 300 synthetic `ruvector(8100)` rows under an sq8 `ruhnsw`
//! index, whose codes are longer than a page and live on code pages.

use crate::data::{copy_rows, data_dir};
use anyhow::{ensure, Context, Result};
use postgres::Client;
use ruvector_bench::dataset::{Dataset, Metric};
use ruvector_bench::wire::VectorParam;
use std::collections::BTreeMap;

/// GloVe rows in each table.
/// pgvector in `public` and ruvector in its own schema `ruvector`, as a pgvector user installs
/// them side by side (both define `halfvec` and `sparsevec`). Fails if pgvector is not installed
/// on the server (scripts/setup.sh --pgvector).
pub const BESIDE_PGVECTOR: &str =
    "CREATE EXTENSION vector; CREATE SCHEMA ruvector; CREATE EXTENSION ruvector SCHEMA ruvector;";

pub const ROWS: usize = 3000;
/// Rows of the 8,100-dimensional table.
pub const BIG_ROWS: usize = 300;
pub const BIG_DIM: usize = 8100;

/// One index of the fixture and how to query it.
pub struct Probe {
    pub table: &'static str,
    pub index: &'static str,
    /// Column type.
    pub column: &'static str,
    /// `USING ... (embedding opclass) WITH (...)`.
    pub using: &'static str,
    /// The distance operator.
    pub op: &'static str,
    /// The query as a value of the column's type, `$1` being a `ruvector`.
    pub query: &'static str,
}

impl Probe {
    /// The ORDER BY expression.
    pub fn order_by(&self) -> String {
        format!("embedding {} {}", self.op, self.query)
    }
}

pub const PROBES: &[Probe] = &[
    Probe {
        table: "t_hnsw",
        index: "t_hnsw_idx",
        column: "ruvector(50)",
        using: "ruhnsw (embedding ruvector_cosine_ops)",
        op: "<=>",
        query: "$1",
    },
    Probe {
        table: "t_hnsw_sq8",
        index: "t_hnsw_sq8_idx",
        column: "ruvector(50)",
        using: "ruhnsw (embedding ruvector_l2_ops) WITH (quantization = 'sq8')",
        op: "<->",
        query: "$1",
    },
    Probe {
        table: "t_hnsw_binary",
        index: "t_hnsw_binary_idx",
        column: "ruvector(50)",
        using: "ruhnsw (embedding ruvector_cosine_ops) WITH (quantization = 'binary', m = 8)",
        op: "<=>",
        query: "$1",
    },
    Probe {
        table: "t_ivf",
        index: "t_ivf_idx",
        column: "ruvector(50)",
        using: "ruivfflat (embedding ruvector_l2_ops) WITH (lists = 20)",
        op: "<->",
        query: "$1",
    },
    Probe {
        table: "t_ivf_pq",
        index: "t_ivf_pq_idx",
        column: "ruvector(50)",
        using: "ruivfflat (embedding ruvector_cosine_ops) WITH (lists = 20, quantization = 'pq10')",
        op: "<=>",
        query: "$1",
    },
    Probe {
        table: "t_half",
        index: "t_half_idx",
        column: "halfvec(50)",
        using: "ruhnsw (embedding halfvec_l2_ops)",
        op: "<->",
        query: "$1::ruvector::halfvec(50)",
    },
    Probe {
        table: "t_half_ivf",
        index: "t_half_ivf_idx",
        column: "halfvec(50)",
        using: "ruivfflat (embedding halfvec_cosine_ops) WITH (lists = 20, quantization = 'sq8')",
        op: "<=>",
        query: "$1::ruvector::halfvec(50)",
    },
    Probe {
        table: "t_sparse",
        index: "t_sparse_idx",
        column: "sparsevec(50)",
        using: "ruhnsw (embedding sparsevec_cosine_ops)",
        op: "<=>",
        query: "$1::ruvector::sparsevec(50)",
    },
    Probe {
        table: "t_bit",
        index: "t_bit_idx",
        column: "bit(50)",
        using: "ruhnsw (embedding bit_hamming_ops)",
        op: "<~>",
        query: "binary_quantize($1::ruvector)::bit(50)",
    },
    Probe {
        table: "t_bit_ivf",
        index: "t_bit_ivf_idx",
        column: "bit(50)",
        using: "ruivfflat (embedding bit_hamming_ops) WITH (lists = 20)",
        op: "<~>",
        query: "binary_quantize($1::ruvector)::bit(50)",
    },
    Probe {
        table: "t_big",
        index: "t_big_idx",
        column: "ruvector(8100)",
        using: "ruhnsw (embedding ruvector_l2_ops) WITH (quantization = 'sq8')",
        op: "<->",
        query: "$1",
    },
];

/// The search settings every answer is taken with.
pub const SEARCH: &str = "SET ruvector.ef_search = 100; SET ruvector.probes = 5; \
                          SET enable_seqscan = off; SET enable_bitmapscan = off";

/// The GloVe rows and queries (cosine), and the synthetic 8,100-d ones.
pub struct Data {
    pub glove: Dataset,
    pub big: Dataset,
}

impl Data {
    pub fn load() -> Data {
        let dir = data_dir("glove-100k");
        let glove = Dataset::texmex(&dir, Metric::Cosine, Some(ROWS), Some(100), 10)
            .unwrap_or_else(|e| {
                panic!(
                    "{e:#}\nthe fixture needs the GloVe set at {} (../shared/data)",
                    dir.display()
                )
            });
        let big = Dataset::synthetic(BIG_ROWS, BIG_DIM, 20, 10, Metric::L2, 7, 10)
            .expect("synthetic 8,100-d rows");
        Data { glove, big }
    }

    /// The query vectors of a probe.
    pub fn queries(&self, p: &Probe) -> Vec<&[f32]> {
        let ds = if p.table == "t_big" {
            &self.big
        } else {
            &self.glove
        };
        ds.queries.rows().collect()
    }
}

/// Creates every table of the fixture in the current database (where ruvector is installed and
/// on the search_path), loads it, builds its index, deletes every tenth row and VACUUMs.
pub fn create(client: &mut Client, data: &Data) -> Result<()> {
    client.batch_execute(
        "CREATE TABLE src (id int4 PRIMARY KEY, embedding ruvector(50));
         CREATE TABLE src_big (id int4 PRIMARY KEY, embedding ruvector(8100));
         SET max_parallel_maintenance_workers = 0",
    )?;
    copy_rows(client, "src", &data.glove, 0..data.glove.base.len())?;
    copy_rows(client, "src_big", &data.big, 0..data.big.base.len())?;
    for p in PROBES {
        let (src, value) = match p.column {
            "bit(50)" => ("src", "binary_quantize(embedding)::bit(50)".to_string()),
            // The elements above 0.3 in magnitude, as a sparse vector.
            "sparsevec(50)" => (
                "src",
                "(SELECT format('{%s}/50', string_agg(format('%s:%s', i, x), ',' ORDER BY i))
                    FROM unnest(embedding::real[]) WITH ORDINALITY AS e(x, i)
                   WHERE abs(x) > 0.3)::sparsevec(50)"
                    .to_string(),
            ),
            "ruvector(8100)" => ("src_big", "embedding".to_string()),
            ty => ("src", format!("embedding::{ty}")),
        };
        client
            .batch_execute(&format!(
                "CREATE TABLE {t} (id int4 PRIMARY KEY, embedding {ty});
                 INSERT INTO {t} SELECT id, {value} FROM {src} ORDER BY id;
                 CREATE INDEX {i} ON {t} USING {using};
                 DELETE FROM {t} WHERE id % 10 = 3",
                t = p.table,
                ty = p.column,
                i = p.index,
                using = p.using,
            ))
            .with_context(|| format!("creating {}", p.table))?;
        client.batch_execute(&format!("VACUUM {}", p.table))?;
    }
    client.batch_execute("DROP TABLE src, src_big; RESET max_parallel_maintenance_workers")?;
    Ok(())
}

/// What every index answers: for each index, the top-10 ids of each query, through that index
/// (the plan is checked) with [`SEARCH`] settings.
pub type Answers = BTreeMap<&'static str, Vec<Vec<i32>>>;

pub fn answers(client: &mut Client, data: &Data) -> Result<Answers> {
    client.batch_execute(SEARCH)?;
    let mut all = Answers::new();
    for p in PROBES {
        let sql = format!(
            "SELECT id FROM {} ORDER BY {} LIMIT 10",
            p.table,
            p.order_by()
        );
        let queries = data.queries(p);
        let plan: Vec<String> = client
            .query(
                &format!("EXPLAIN (COSTS OFF) {sql}"),
                &[&VectorParam(queries[0])],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        ensure!(
            plan.iter()
                .any(|l| l.contains(&format!("Index Scan using {}", p.index))),
            "{sql} does not use {}: {plan:?}",
            p.index
        );
        let stmt = client.prepare(&sql)?;
        let mut per_query = Vec::new();
        for q in queries {
            let ids: Vec<i32> = client
                .query(&stmt, &[&VectorParam(q)])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            ensure!(ids.len() == 10, "{} returned {} rows", p.index, ids.len());
            per_query.push(ids);
        }
        all.insert(p.index, per_query);
    }
    client.batch_execute("RESET ALL")?;
    Ok(all)
}

/// Asserts that two sets of answers are identical, naming the first index and query that
/// differs.
pub fn assert_same(before: &Answers, after: &Answers, what: &str) {
    assert_eq!(before.len(), after.len(), "{what}: not the same indexes");
    for (index, b) in before {
        let a = &after[index];
        for (q, (x, y)) in b.iter().zip(a).enumerate() {
            assert_eq!(x, y, "{what}: {index} answers query {q} differently");
        }
    }
}

/// Writes to every table of the fixture after an upgrade and checks the indexes follow: each
/// table gets 20 new rows (a query's own value, at distance 0 from it), loses 20 more, and is
/// VACUUMed; then every index returns each new row among the top 10 of its query and never a
/// deleted row.
pub fn write_and_check(client: &mut Client, data: &Data) -> Result<()> {
    for p in PROBES {
        let queries = data.queries(p);
        let insert = client.prepare(&format!(
            "INSERT INTO {} (id, embedding) VALUES ($2, {})",
            p.table, p.query
        ))?;
        for (k, q) in queries.iter().take(20).enumerate() {
            client.execute(&insert, &[&VectorParam(q), &(1_000_000 + k as i32)])?;
        }
        client.batch_execute(&format!(
            "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE id < 1000000 ORDER BY id LIMIT 20)",
            t = p.table
        ))?;
        client.batch_execute(&format!("VACUUM {}", p.table))?;
    }
    // A wider search than [`SEARCH`]: a binary-quantized graph over 50 dimensions (codes of 7
    // bytes, many ties) does not always reach a new row at ef_search 100.
    client.batch_execute(SEARCH)?;
    client.batch_execute("SET ruvector.ef_search = 400; SET ruvector.rerank = 400")?;
    for p in PROBES {
        let stmt = client.prepare(&format!(
            "SELECT id FROM {} ORDER BY {} LIMIT 10",
            p.table,
            p.order_by()
        ))?;
        let live: std::collections::HashSet<i32> = client
            .query(&format!("SELECT id FROM {}", p.table), &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (k, q) in data.queries(p).iter().take(20).enumerate() {
            let ids: Vec<i32> = client
                .query(&stmt, &[&VectorParam(q)])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            ensure!(
                ids.contains(&(1_000_000 + k as i32)),
                "{}: the row inserted with query {k}'s value is not among its top 10: {ids:?}",
                p.index
            );
            ensure!(
                ids.iter().all(|id| live.contains(id)),
                "{}: a deleted row came back: {ids:?}",
                p.index
            );
        }
    }
    client.batch_execute("RESET ALL")?;
    Ok(())
}
