//! Running the queries of a dataset against one profile at one setting: recall@k against the
//! exact ground truth, throughput and latency percentiles, with one or more clients.

use crate::dataset::{recall, Dataset};
use crate::wire::VectorParam;
use anyhow::{bail, Context, Result};
use postgres::{Client, Config, Row, Statement};
use serde::{Deserialize, Serialize};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// One measurement's inputs.
pub struct Measure<'a> {
    pub config: Config,
    /// Statements run on each connection first (`SET ruvector.ef_search = 40`, ...).
    pub setup: Vec<String>,
    /// The query, with the query vector as `$1`, returning `id`s.
    pub sql: String,
    pub dataset: &'a Dataset,
    /// How many of the dataset's queries to run (the first ones).
    pub queries: usize,
    pub k: usize,
    pub clients: usize,
    /// The plan must be an index scan on this index (so a number is never silently a
    /// sequential scan), or must not use any index when `None`.
    pub index: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Point {
    /// The swept setting (ef_search / probes); `None` for an exact scan.
    pub value: Option<i64>,
    pub recall: f64,
    pub qps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub queries: usize,
    pub clients: usize,
}

impl Measure<'_> {
    /// Runs the queries once without timing them (fills caches).
    pub fn warm_up(&self, queries: usize) -> Result<()> {
        let mut client = self.config.connect(postgres::NoTls)?;
        client.batch_execute(&self.setup.join(";"))?;
        let stmt = client.prepare(&self.sql)?;
        for q in 0..queries.min(self.dataset.queries.len()) {
            client.query(&stmt, &[&VectorParam(self.dataset.queries.row(q))])?;
        }
        Ok(())
    }

    /// Checks the plan uses the expected index (or none).
    pub fn check_plan(&self) -> Result<String> {
        let mut client = self.config.connect(postgres::NoTls)?;
        client.batch_execute(&self.setup.join(";"))?;
        let rows = client.query(
            &format!("EXPLAIN (COSTS OFF) {}", self.sql),
            &[&VectorParam(self.dataset.queries.row(0))],
        )?;
        let plan: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        let plan = plan.join("\n");
        match &self.index {
            Some(index) => {
                if !plan.contains(&format!("Index Scan using {index}")) {
                    bail!(
                        "the planner does not use index {index} for `{}`:\n{plan}",
                        self.sql
                    );
                }
            }
            None => {
                if plan.contains("Index Scan") {
                    bail!("expected an exact scan for `{}`, got:\n{plan}", self.sql);
                }
            }
        }
        Ok(plan)
    }

    /// Runs the queries on `clients` connections at once and measures.
    pub fn run(&self, value: Option<i64>, progress: &indicatif::ProgressBar) -> Result<Point> {
        let n = self.queries.min(self.dataset.queries.len());
        let timed = run_timed(
            &self.config,
            &self.setup,
            &self.sql,
            n,
            self.clients,
            progress,
            |client, stmt, q| Ok(client.query(stmt, &[&VectorParam(self.dataset.queries.row(q))])?),
        )?;
        let recall_sum: f64 = timed
            .per_query
            .iter()
            .map(|r| recall(&r.ids, &self.dataset.truth[r.query], self.k))
            .sum();
        let latencies = timed.sorted_latencies_ms();
        Ok(Point {
            value,
            recall: recall_sum / n as f64,
            qps: timed.qps(),
            mean_ms: latencies.iter().sum::<f64>() / n as f64,
            p50_ms: percentile(&latencies, 0.50),
            p95_ms: percentile(&latencies, 0.95),
            p99_ms: percentile(&latencies, 0.99),
            queries: n,
            clients: timed.clients,
        })
    }
}

/// One query of a timed run: which query, the `id`s it returned, how long it took.
pub struct QueryResult {
    pub query: usize,
    pub ids: Vec<u32>,
    pub took: Duration,
}

/// The outcome of [`run_timed`].
pub struct Timed {
    /// In no particular order.
    pub per_query: Vec<QueryResult>,
    /// Wall time from the moment all clients were connected and prepared to the last answer.
    pub elapsed: Duration,
    /// Clients actually used (at most one per query).
    pub clients: usize,
}

impl Timed {
    pub fn qps(&self) -> f64 {
        self.per_query.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Latencies in milliseconds, ascending (for [`percentile`]).
    pub fn sorted_latencies_ms(&self) -> Vec<f64> {
        let mut l: Vec<f64> = self
            .per_query
            .iter()
            .map(|r| r.took.as_secs_f64() * 1000.0)
            .collect();
        l.sort_by(|a, b| a.partial_cmp(b).unwrap());
        l
    }
}

/// Runs queries `0..n` on `clients` connections at once (client `c` takes queries `c`,
/// `c + clients`, ...): each connection runs `setup`, prepares `sql` once — so the server's
/// plan cache treats it as an application's prepared statement — and `execute` runs one query
/// with that query's parameters; the returned rows' first column is the `int4` id. Timing
/// starts when every client is connected and prepared.
pub fn run_timed<F>(
    config: &Config,
    setup: &[String],
    sql: &str,
    n: usize,
    clients: usize,
    progress: &indicatif::ProgressBar,
    execute: F,
) -> Result<Timed>
where
    F: Fn(&mut Client, &Statement, usize) -> Result<Vec<Row>> + Sync,
{
    if n == 0 {
        bail!("no queries to run");
    }
    let clients = clients.clamp(1, n);
    progress.set_length(n as u64);
    progress.set_position(0);
    let barrier = Barrier::new(clients + 1);
    let (elapsed, results) =
        std::thread::scope(|s| -> Result<(Duration, Vec<Vec<QueryResult>>)> {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let (barrier, execute) = (&barrier, &execute);
                    s.spawn(move || -> Result<Vec<QueryResult>> {
                        let prepared = (|| -> Result<_> {
                            let mut client = config.connect(postgres::NoTls)?;
                            client.batch_execute(&setup.join(";"))?;
                            let stmt = client.prepare(sql)?;
                            Ok((client, stmt))
                        })();
                        barrier.wait();
                        let (mut client, stmt) = prepared?;
                        let mut per_query = Vec::new();
                        for q in (c..n).step_by(clients) {
                            let t = Instant::now();
                            let rows = execute(&mut client, &stmt, q)
                                .with_context(|| format!("query {q} failed"))?;
                            let took = t.elapsed();
                            let ids = rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect();
                            per_query.push(QueryResult {
                                query: q,
                                ids,
                                took,
                            });
                            progress.inc(1);
                        }
                        Ok(per_query)
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            let mut results = Vec::new();
            for h in handles {
                results.push(h.join().expect("client thread panicked")?);
            }
            Ok((start.elapsed(), results))
        })?;
    progress.finish_and_clear();
    Ok(Timed {
        per_query: results.into_iter().flatten().collect(),
        elapsed,
        clients,
    })
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
