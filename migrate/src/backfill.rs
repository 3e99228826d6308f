//! Phase 2: copies every existing row's value into the shadow column, in primary-key order, in
//! batches that each commit together with the position reached (`jobs.last_key`). A crash, a
//! `kill` or a failover loses at most the batch in flight; the next run continues after the
//! last committed key. Rows the application writes meanwhile are copied by the trigger.

use crate::ident::quote;
use crate::job::{Job, Phase, SCHEMA};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use postgres::error::SqlState;
use postgres::Client;
use std::time::{Duration, Instant};

/// How the backfill paces itself.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Rows per batch (per transaction).
    pub batch: i64,
    /// Pause between batches, to leave the server to the application.
    pub sleep: Duration,
    /// Show a progress bar.
    pub progress: bool,
}

/// What a backfill did.
#[derive(Debug, Default)]
pub struct Report {
    pub rows: i64,
    pub batches: u64,
    pub seconds: f64,
}

pub fn backfill(client: &mut Client, job: &mut Job, pace: Pace) -> Result<Report> {
    let t = &job.target;
    let walk = t.key_walk(client)?;
    // One statement per batch: pick the next `batch` keys, write the shadow of those that lack
    // it, and say how many were written and where the batch ended.
    let sql = format!(
        "WITH b AS (
             SELECT {keys} FROM {table} WHERE {after_last} ORDER BY {keys} LIMIT $2
         ), u AS (
             UPDATE {table} t SET {shadow} = t.{column}
               FROM b WHERE {join_b}
                AND t.{shadow} IS NULL AND t.{column} IS NOT NULL
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM u), {last_of_b}",
        keys = walk.keys,
        after_last = walk.after_last,
        join_b = walk.join_b,
        last_of_b = walk.last_of_b,
        table = job.table_sql(),
        shadow = job.shadow_sql(),
        column = job.column_sql(),
    );
    let total = match t.est_rows {
        n if n > 0 => n,
        _ => client
            .query_one(&format!("SELECT count(*) FROM {}", job.table_sql()), &[])?
            .get(0),
    };
    let bar = if pace.progress {
        let pb = ProgressBar::new(total.max(1) as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "backfill {wide_bar} {pos}/{len} rows ({per_sec}, ETA {eta})",
            )
            .unwrap(),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut report = Report::default();
    let started = Instant::now();
    let mut scanned = 0u64;
    loop {
        let (seen, written, last) = batch_with_retries(client, job, &sql, pace.batch)?;
        if seen == 0 {
            break;
        }
        scanned += seen as u64;
        report.rows += written;
        report.batches += 1;
        bar.set_length(bar.length().unwrap_or(0).max(scanned));
        bar.set_position(scanned);
        job.last_key = last;
        job.rows_done += written;
        if !pace.sleep.is_zero() {
            std::thread::sleep(pace.sleep);
        }
    }
    bar.finish_and_clear();
    if job.target.not_null {
        // every row now has its shadow value; prove NOT NULL without blocking writes
        client.batch_execute(&format!(
            "ALTER TABLE {} VALIDATE CONSTRAINT {}",
            job.table_sql(),
            quote(&format!("{}_not_null", job.shadow))
        ))?;
    }
    let mut tx = client.transaction()?;
    job.set_phase(&mut tx, Phase::Backfilled)?;
    tx.commit()?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Runs one batch and records its end in the same transaction; a deadlock with the application
/// (which may update rows in another order) or a serialization failure is retried.
fn batch_with_retries(
    client: &mut Client,
    job: &Job,
    sql: &str,
    batch: i64,
) -> Result<(i64, i64, Option<Vec<String>>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = (|| -> Result<(i64, i64, Option<Vec<String>>), postgres::Error> {
            let mut tx = client.transaction()?;
            let r = tx.query_one(sql, &[&job.last_key, &batch])?;
            let (seen, written, last): (i64, i64, Option<Vec<String>>) =
                (r.get(0), r.get(1), r.get(2));
            if seen > 0 {
                tx.execute(
                    &format!(
                        "UPDATE {SCHEMA}.jobs SET last_key = $2, rows_done = rows_done + $3,
                                updated_at = now() WHERE id = $1"
                    ),
                    &[&job.id, &last, &written],
                )?;
            }
            tx.commit()?;
            Ok((seen, written, last))
        })();
        match result {
            Ok(v) => return Ok(v),
            Err(e)
                if attempt < 10
                    && e.code().is_some_and(|c| {
                        *c == SqlState::T_R_DEADLOCK_DETECTED
                            || *c == SqlState::T_R_SERIALIZATION_FAILURE
                    }) =>
            {
                std::thread::sleep(Duration::from_millis(50 * attempt));
            }
            Err(e) => return Err(e).context("backfill batch failed"),
        }
    }
}
