//! Phase 3: builds each ruvector index on the shadow column with `CREATE INDEX CONCURRENTLY`
//! (writes continue meanwhile). A partitioned table gets its parent index `ON ONLY`, each
//! partition's index built concurrently and attached, as PostgreSQL's documentation on
//! partitioned indexes describes. An index left INVALID by an interrupted build is dropped and
//! built again on the next run.

use crate::ident::quote;
use crate::job::{Job, Phase};
use anyhow::{Context, Result};
use postgres::Client;
use std::time::Instant;

pub fn build(client: &mut Client, job: &mut Job, progress: bool) -> Result<()> {
    for ix in job.indexes.clone() {
        let state = client
            .query_opt(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  WHERE c.oid = to_regclass($1)",
                &[&job.index_sql(&ix.new)],
            )?
            .map(|r| r.get::<_, bool>(0));
        match state {
            Some(true) => continue,
            Some(false) => {
                // an interrupted build: start over
                let concurrently = if job.target.is_partitioned() {
                    ""
                } else {
                    "CONCURRENTLY"
                };
                client.batch_execute(&format!(
                    "DROP INDEX {concurrently} {}",
                    job.index_sql(&ix.new)
                ))?;
            }
            None => {}
        }
        let started = Instant::now();
        if progress {
            eprintln!("building index {} ({})", ix.new, ix.using_shadow);
        }
        if job.target.is_partitioned() {
            client.batch_execute(&format!(
                "CREATE INDEX {} ON ONLY {} {}",
                quote(&ix.new),
                job.table_sql(),
                ix.using_shadow
            ))?;
            for (k, (schema, part)) in job.target.partitions.iter().enumerate() {
                let child = format!("{}_{k}", truncate(&ix.new, 55));
                let child_sql = crate::ident::qualified(schema, &child);
                let exists = client
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&child_sql])?
                    .get::<_, bool>(0);
                if exists {
                    client.batch_execute(&format!("DROP INDEX CONCURRENTLY {child_sql}"))?;
                }
                client
                    .batch_execute(&format!(
                        "CREATE INDEX CONCURRENTLY {} ON {} {}",
                        quote(&child),
                        crate::ident::qualified(schema, part),
                        ix.using_shadow
                    ))
                    .with_context(|| format!("building {child} on partition {part}"))?;
                client.batch_execute(&format!(
                    "ALTER INDEX {} ATTACH PARTITION {child_sql}",
                    job.index_sql(&ix.new)
                ))?;
            }
        } else {
            client
                .batch_execute(&format!(
                    "CREATE INDEX CONCURRENTLY {} ON {} {}",
                    quote(&ix.new),
                    job.table_sql(),
                    ix.using_shadow
                ))
                .with_context(|| format!("building index {}", ix.new))?;
        }
        if progress {
            eprintln!(
                "built index {} in {:.1} s",
                ix.new,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let mut tx = client.transaction()?;
    job.set_phase(&mut tx, Phase::Indexed)?;
    tx.commit()?;
    Ok(())
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
