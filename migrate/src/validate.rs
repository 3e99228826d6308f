//! Phase 4: checks, before anything is swapped, that the ruvector column holds the same values
//! and its indexes answer as well as pgvector's:
//!
//! - every row's value, compared byte for byte (pgvector's and ruvector's binary send formats
//!   are the same bytes for equal values), in key-range batches; NULLs in the same rows;
//! - for each index, `queries` sample rows' own vectors as queries: recall@10 of the ruvector
//!   index and of the pgvector index against the exact answer (a sequential scan), the overlap
//!   of the two indexes' answers, and the same `ORDER BY ... LIMIT 10` through both indexes
//!   timed side by side.
//!
//! It fails when a value differs or the new index's recall is more than 0.01 below the old's.

use crate::ident::quote;
use crate::job::{Job, Phase};
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use postgres::Client;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Instant;

/// How much the new index's recall may fall below the old one's.
pub const RECALL_TOLERANCE: f64 = 0.01;

#[derive(Debug, Serialize)]
pub struct Report {
    pub table: String,
    pub column: String,
    pub rows: i64,
    pub null_rows: i64,
    /// Rows whose ruvector value differs from the pgvector value (or is missing).
    pub differing_rows: i64,
    pub indexes: Vec<IndexReport>,
    pub passed: bool,
}

#[derive(Debug, Serialize)]
pub struct IndexReport {
    pub pgvector_index: String,
    pub ruvector_index: String,
    pub operator: Option<String>,
    pub queries: usize,
    pub recall_pgvector: Option<f64>,
    pub recall_ruvector: Option<f64>,
    /// Mean fraction of the two indexes' top-10 that agree.
    pub overlap: Option<f64>,
    pub ms_per_query_pgvector: Option<f64>,
    pub ms_per_query_ruvector: Option<f64>,
    /// When the ruvector index falls short at the current settings: the smallest search
    /// setting found (doubling from the current one) at which it does not.
    pub tuned: Option<Tuned>,
    pub note: Option<String>,
}

/// A search setting and the recall the ruvector index reaches with it.
#[derive(Debug, Serialize, Clone)]
pub struct Tuned {
    pub setting: String,
    pub value: i64,
    pub recall_ruvector: f64,
}

pub fn validate(
    client: &mut Client,
    job: &mut Job,
    queries: usize,
    batch: i64,
    progress: bool,
) -> Result<Report> {
    let (rows, null_rows, differing_rows) = compare_values(client, job, batch, progress)?;
    let mut indexes = Vec::new();
    for ix in job.indexes.clone() {
        indexes.push(check_index(client, job, &ix, queries, progress)?);
    }
    let passed = differing_rows == 0
        && indexes
            .iter()
            .all(|i| match (i.recall_pgvector, i.recall_ruvector) {
                (Some(old), Some(new)) => new >= old - RECALL_TOLERANCE,
                _ => true,
            });
    if passed && job.phase < Phase::Validated {
        let mut tx = client.transaction()?;
        job.set_phase(&mut tx, Phase::Validated)?;
        tx.commit()?;
    }
    Ok(Report {
        table: job.table_sql(),
        column: job.target.column.clone(),
        rows,
        null_rows,
        differing_rows,
        indexes,
        passed,
    })
}

/// (rows, rows with NULL in both columns, rows that differ).
fn compare_values(
    client: &mut Client,
    job: &Job,
    batch: i64,
    progress: bool,
) -> Result<(i64, i64, i64)> {
    let t = &job.target;
    let (pgv_send, rv_send) = t.kind.send_functions();
    let walk = t.key_walk(client)?;
    // After the swap the names are exchanged: compare the pgvector column with the ruvector one
    // whatever they are called now.
    let (pgv_col, rv_col) = job.columns_now();
    let sql = format!(
        "WITH b AS (
             SELECT {keys}, {pgv_col} AS p, {rv_col} AS r FROM {table}
              WHERE {after_last} ORDER BY {keys} LIMIT $2
         )
         SELECT count(*),
                count(*) FILTER (WHERE p IS NULL AND r IS NULL),
                count(*) FILTER (WHERE {pgv_schema}.{pgv_send}(p) IS DISTINCT FROM
                                       {rv_schema}.{rv_send}(r)),
                {last_of_b}
           FROM b",
        keys = walk.keys,
        after_last = walk.after_last,
        last_of_b = walk.last_of_b,
        table = job.table_sql(),
        pgv_schema = t.type_schema(true),
        rv_schema = t.type_schema(false),
    );
    let bar = if progress {
        let pb = ProgressBar::new(t.est_rows.max(1) as u64);
        pb.set_style(
            ProgressStyle::with_template("compare {wide_bar} {pos}/{len} rows ({per_sec})")
                .unwrap(),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let (mut rows, mut nulls, mut differ) = (0i64, 0i64, 0i64);
    let mut last: Option<Vec<String>> = None;
    loop {
        // one consistent snapshot per batch; the trigger keeps the two columns of a row equal
        let r = client.query_one(&sql, &[&last, &batch])?;
        let n: i64 = r.get(0);
        if n == 0 {
            break;
        }
        rows += n;
        nulls += r.get::<_, i64>(1);
        differ += r.get::<_, i64>(2);
        last = r.get(3);
        bar.set_length(bar.length().unwrap_or(0).max(rows as u64));
        bar.set_position(rows as u64);
    }
    bar.finish_and_clear();
    Ok((rows, nulls, differ))
}

fn check_index(
    client: &mut Client,
    job: &Job,
    ix: &crate::target::IndexPlan,
    queries: usize,
    progress: bool,
) -> Result<IndexReport> {
    let mut report = IndexReport {
        pgvector_index: ix.old.clone(),
        ruvector_index: ix.new.clone(),
        operator: ix.operator().map(str::to_string),
        queries: 0,
        recall_pgvector: None,
        recall_ruvector: None,
        overlap: None,
        ms_per_query_pgvector: None,
        ms_per_query_ruvector: None,
        tuned: None,
        note: None,
    };
    let Some(op) = ix.operator() else {
        report.note = Some("a btree index: nothing to measure".into());
        return Ok(report);
    };
    if ix.expression {
        report.note = Some("an expression index: recall not measured".into());
        return Ok(report);
    }
    let (pgv_col, rv_col) = job.columns_now();
    let (pgv_index, rv_index) = if job.phase == Phase::Swapped {
        (format!("{}_pgvector", ix.old), ix.old.clone())
    } else {
        (ix.old.clone(), ix.new.clone())
    };
    let table = job.table_sql();
    let pred_old = ix
        .predicate_old
        .as_ref()
        .map(|p| format!("AND ({p})"))
        .unwrap_or_default();
    let pred_new = ix
        .predicate_shadow
        .as_ref()
        .map(|p| format!("AND ({p})"))
        .unwrap_or_default();
    // The pgvector column's name inside the predicates: after the swap it is old_name.
    let (pred_old, pred_new) = if job.phase == Phase::Swapped && !job.index_only() {
        (
            crate::ident::rename_column(&pred_old, &job.target.column, &job.old_name),
            crate::ident::rename_column(&pred_new, &job.shadow, &job.target.column),
        )
    } else {
        (pred_old, pred_new)
    };
    // sample rows' own vectors, the same ones on every run
    let samples: Vec<String> = client
        .query(
            &format!(
                "SELECT {pgv_col}::text FROM {table} TABLESAMPLE BERNOULLI (
                     least(100, greatest(0.01, 300.0 * $1::int8 / greatest(1, {est}))))
                     REPEATABLE (42)
                  WHERE {pgv_col} IS NOT NULL {pred_old} LIMIT $1",
                est = job.target.est_rows
            ),
            &[&(queries as i64)],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if samples.is_empty() {
        report.note = Some("no rows to query".into());
        return Ok(report);
    }
    let pgv_type = &job.target.pgvector_type;
    let rv_type = job.target.ruvector_type();
    let keys = job.target.key_list();
    let exact_sql = format!(
        "SELECT ROW({keys})::text FROM {table} WHERE {pgv_col} IS NOT NULL {pred_old}
          ORDER BY {pgv_col} OPERATOR({}.{op}) $1::text::{pgv_type} LIMIT 10",
        job.target.pgvector_schema
    );
    let old_sql = format!(
        "SELECT ROW({keys})::text FROM {table} WHERE true {pred_old}
          ORDER BY {pgv_col} OPERATOR({}.{op}) $1::text::{pgv_type} LIMIT 10",
        job.target.pgvector_schema
    );
    let new_sql = format!(
        "SELECT ROW({keys})::text FROM {table} WHERE true {pred_new}
          ORDER BY {rv_col} OPERATOR({}.{op}) $1::text::{rv_type} LIMIT 10",
        job.target.ruvector_schema
    );
    // the index queries must use the indexes they measure
    for (name, sql) in [(&pgv_index, &old_sql), (&rv_index, &new_sql)] {
        let plan: String = {
            let mut tx = client.transaction()?;
            tx.batch_execute("SET LOCAL enable_seqscan = off")?;
            let p = tx
                .query(&format!("EXPLAIN {sql}"), &[&samples[0]])?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n");
            tx.commit()?;
            p
        };
        // a partitioned index is used through its partitions' indexes
        let mut names = vec![name.clone()];
        names.extend(
            client
                .query(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                      WHERE i.inhparent = to_regclass($1)",
                    &[&job.index_sql(name)],
                )?
                .iter()
                .map(|r| r.get::<_, String>(0)),
        );
        let uses = names
            .iter()
            .any(|n| plan.contains(&format!(" {n} ")) || plan.contains(&format!(" {} ", quote(n))));
        if !uses || plan.contains("Seq Scan") {
            bail!("the query through index {name} does not use it:\n{plan}");
        }
    }
    let bar = if progress {
        let pb = ProgressBar::new(samples.len() as u64);
        pb.set_style(
            ProgressStyle::with_template(&format!(
                "recall {} {{wide_bar}} {{pos}}/{{len}}",
                ix.old
            ))
            .unwrap(),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let queries = Queries {
        samples: &samples,
        exact: &exact_sql,
        old: &old_sql,
        new: &new_sql,
    };
    let m = queries.measure(client, None, &bar)?;
    bar.finish_and_clear();
    let n = samples.len();
    report.queries = n;
    report.recall_pgvector = Some(m.recall_old);
    report.recall_ruvector = Some(m.recall_new);
    report.overlap = Some(m.overlap);
    report.ms_per_query_pgvector = Some(m.seconds_old * 1000.0 / n as f64);
    report.ms_per_query_ruvector = Some(m.seconds_new * 1000.0 / n as f64);
    if m.recall_new < m.recall_old - RECALL_TOLERANCE {
        // which search setting would close the gap: ruvector.ef_search for ruhnsw,
        // ruvector.probes for ruivfflat, doubled from the current value
        let (setting, max) = match ix.access_method.as_str() {
            "hnsw" => ("ruvector.ef_search", 1000),
            "ivfflat" => ("ruvector.probes", 32768),
            _ => return Ok(report),
        };
        let mut value: i64 = client
            .query_one(&format!("SELECT current_setting('{setting}')::int8"), &[])?
            .get(0);
        while value < max {
            value = (value * 2).min(max);
            let m = queries.measure(client, Some((setting, value)), &ProgressBar::hidden())?;
            if m.recall_new >= m.recall_old - RECALL_TOLERANCE {
                report.tuned = Some(Tuned {
                    setting: setting.to_string(),
                    value,
                    recall_ruvector: m.recall_new,
                });
                break;
            }
        }
    }
    Ok(report)
}

/// The recall queries of one index pair.
struct Queries<'a> {
    samples: &'a [String],
    exact: &'a str,
    old: &'a str,
    new: &'a str,
}

struct Measured {
    recall_old: f64,
    recall_new: f64,
    overlap: f64,
    seconds_old: f64,
    seconds_new: f64,
}

impl Queries<'_> {
    /// Runs every sample query exactly and through both indexes, with `setting` applied to the
    /// ruvector query.
    fn measure(
        &self,
        client: &mut Client,
        setting: Option<(&str, i64)>,
        bar: &ProgressBar,
    ) -> Result<Measured> {
        let (mut hit_old, mut hit_new, mut agree, mut total) = (0usize, 0usize, 0usize, 0usize);
        let (mut t_old, mut t_new) = (0f64, 0f64);
        for (i, q) in self.samples.iter().enumerate() {
            // the exact answer and both indexes' answers from one snapshot, so the
            // application's concurrent writes cannot make them disagree
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()?;
            tx.batch_execute(
                "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off",
            )?;
            let exact: HashSet<String> = tx
                .query(self.exact, &[q])?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            tx.batch_execute(
                "SET LOCAL enable_indexscan = on; SET LOCAL enable_bitmapscan = on;
                 SET LOCAL enable_seqscan = off",
            )?;
            if let Some((name, value)) = setting {
                // (the pgvector index ignores ruvector's settings)
                tx.batch_execute(&format!("SET LOCAL {name} = {value}"))?;
            }
            // Each query once untimed, so both are timed with the pages they touch cached, and
            // then timed in alternating order.
            let mut timed = |sql: &str, total: &mut f64| -> Result<Vec<String>> {
                tx.query(sql, &[q])?;
                let started = Instant::now();
                let ids = tx.query(sql, &[q])?.iter().map(|r| r.get(0)).collect();
                *total += started.elapsed().as_secs_f64();
                Ok(ids)
            };
            let (old, new) = if i % 2 == 0 {
                let old = timed(self.old, &mut t_old)?;
                (old, timed(self.new, &mut t_new)?)
            } else {
                let new = timed(self.new, &mut t_new)?;
                (timed(self.old, &mut t_old)?, new)
            };
            tx.commit()?;
            hit_old += old.iter().filter(|id| exact.contains(*id)).count();
            hit_new += new.iter().filter(|id| exact.contains(*id)).count();
            let old_set: HashSet<&String> = old.iter().collect();
            agree += new.iter().filter(|id| old_set.contains(id)).count();
            total += exact.len();
            bar.inc(1);
        }
        let total = total.max(1) as f64;
        Ok(Measured {
            recall_old: hit_old as f64 / total,
            recall_new: hit_new as f64 / total,
            overlap: agree as f64 / total,
            seconds_old: t_old,
            seconds_new: t_new,
        })
    }
}

/// The report as a user reads it.
pub fn print(report: &Report) {
    println!("validation of {}.{}", report.table, report.column);
    println!(
        "  rows: {} ({} NULL in both columns), values differing: {}",
        report.rows, report.null_rows, report.differing_rows
    );
    for i in &report.indexes {
        match (i.recall_pgvector, i.recall_ruvector) {
            (Some(old), Some(new)) => println!(
                "  {} -> {} ({}): {} queries, recall@10 pgvector {:.3}, ruvector {:.3}, overlap {:.3}; {:.2} ms vs {:.2} ms per query",
                i.pgvector_index,
                i.ruvector_index,
                i.operator.as_deref().unwrap_or("?"),
                i.queries,
                old,
                new,
                i.overlap.unwrap_or(0.0),
                i.ms_per_query_pgvector.unwrap_or(0.0),
                i.ms_per_query_ruvector.unwrap_or(0.0),
            ),
            _ => println!(
                "  {} -> {}: {}",
                i.pgvector_index,
                i.ruvector_index,
                i.note.as_deref().unwrap_or("")
            ),
        }
    }
    for i in &report.indexes {
        if let Some(t) = &i.tuned {
            println!(
                "  {}: recall@10 {:.3} with {} = {} (ALTER DATABASE ... SET {} = {}; \
                 --tune-recall does it)",
                i.ruvector_index, t.recall_ruvector, t.setting, t.value, t.setting, t.value
            );
        }
    }
    println!(
        "  {}",
        if report.passed {
            "PASSED"
        } else {
            "FAILED: values differ, or the ruvector index's recall is more than 0.01 below pgvector's"
        }
    );
}
