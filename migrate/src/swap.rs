//! Phase 5 and its inverses: the swap (one short transaction under ACCESS EXCLUSIVE: column and
//! index names exchanged, so the application's SQL now reaches ruvector's column and indexes),
//! rollback (the exchange undone, or before a swap the shadow column dropped), and cleanup (the
//! pgvector column and indexes dropped once the application is happy).
//!
//! After the swap a trigger copies every write back into the pgvector column (the assignment
//! cast ruvector -> vector), so a rollback later loses nothing written meanwhile.

use crate::ddl::{self, LockPolicy};
use crate::ident::quote;
use crate::job::{Job, Phase};
use anyhow::{bail, Result};
use postgres::Client;

/// Views and rules reading the column: a rename would leave them on the pgvector column.
fn dependent_views(client: &mut Client, job: &Job, column: &str) -> Result<Vec<String>> {
    Ok(client
        .query(
            "SELECT DISTINCT r.ev_class::regclass::text
               FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
               JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
                AND d.refobjid = $1::int8::oid AND a.attname = $2 AND r.ev_class <> d.refobjid",
            &[&(job.target.relid as i64), &column],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn not_null_constraint(job: &Job) -> String {
    quote(&format!("{}_not_null", job.shadow))
}

pub fn swap(client: &mut Client, job: &mut Job, policy: LockPolicy) -> Result<()> {
    if job.phase != Phase::Validated {
        bail!(
            "{}.{} is {}, not validated: run `ruvector-migrate validate` first",
            job.table_sql(),
            job.target.column,
            job.phase.name()
        );
    }
    let views = dependent_views(client, job, &job.target.column.clone())?;
    if !views.is_empty() {
        bail!(
            "views read {}.{}: {}; after a swap they would keep reading the pgvector column. \
             Drop them, swap, and create them again",
            job.table_sql(),
            job.target.column,
            views.join(", ")
        );
    }
    for ix in &job.indexes {
        if ix.old.len() + "_pgvector".len() > 63 {
            bail!(
                "index name {} is too long to add the suffix _pgvector",
                ix.old
            );
        }
    }
    let not_null = job.target.not_null;
    let index_only = job.index_only();
    ddl::transaction(client, policy, "swapping the columns", |tx| {
        let table = job.table_sql();
        if index_only {
            tx.batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))?;
            rename_indexes(tx, job, false)?;
            return job.set_phase(tx, Phase::Swapped);
        }
        tx.batch_execute(&format!(
            "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;
             DROP TRIGGER {sync} ON {table};
             ALTER TABLE {table} RENAME COLUMN {col} TO {old};
             ALTER TABLE {table} RENAME COLUMN {shadow} TO {col};",
            sync = job.forward_trigger(),
            col = job.column_sql(),
            old = job.old_sql(),
            shadow = job.shadow_sql(),
        ))?;
        if not_null {
            // the validated CHECK constraint proves it: no scan
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL;
                 ALTER TABLE {table} DROP CONSTRAINT {nn};
                 ALTER TABLE {table} ALTER COLUMN {old} DROP NOT NULL;",
                col = job.column_sql(),
                old = job.old_sql(),
                nn = not_null_constraint(job),
            ))?;
        }
        rename_indexes(tx, job, false)?;
        tx.batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION {func} RETURNS trigger LANGUAGE plpgsql AS $f$
             BEGIN
                 NEW.{old} := NEW.{col};
                 RETURN NEW;
             END
             $f$;
             CREATE TRIGGER {back} BEFORE INSERT OR UPDATE ON {table}
                 FOR EACH ROW EXECUTE FUNCTION {func};",
            func = job.back_function(),
            back = job.back_trigger(),
            old = job.old_sql(),
            col = job.column_sql(),
        ))?;
        job.set_phase(tx, Phase::Swapped)
    })
}

pub fn rollback(client: &mut Client, job: &mut Job, policy: LockPolicy) -> Result<()> {
    if job.phase == Phase::Swapped && job.index_only() {
        return ddl::transaction(client, policy, "renaming the indexes back", |tx| {
            tx.batch_execute(&format!(
                "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
                job.table_sql()
            ))?;
            rename_indexes(tx, job, true)?;
            job.set_phase(tx, Phase::Validated)
        });
    }
    if job.phase == Phase::Swapped {
        let was_not_null = client
            .query_one(
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::int8::oid AND attname = $2",
                &[&(job.target.relid as i64), &job.target.column],
            )?
            .get::<_, bool>(0);
        return ddl::transaction(client, policy, "swapping the columns back", |tx| {
            let table = job.table_sql();
            tx.batch_execute(&format!(
                "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;
                 DROP TRIGGER {back} ON {table};
                 ALTER TABLE {table} RENAME COLUMN {col} TO {shadow};
                 ALTER TABLE {table} RENAME COLUMN {old} TO {col};",
                back = job.back_trigger(),
                col = job.column_sql(),
                old = job.old_sql(),
                shadow = job.shadow_sql(),
            ))?;
            if was_not_null {
                // the back trigger filled every row written since the swap
                tx.batch_execute(&format!(
                    "ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL;
                     ALTER TABLE {table} ALTER COLUMN {shadow} DROP NOT NULL;
                     ALTER TABLE {table} ADD CONSTRAINT {nn} CHECK ({shadow} IS NOT NULL) NOT VALID;",
                    col = job.column_sql(),
                    shadow = job.shadow_sql(),
                    nn = not_null_constraint(job),
                ))?;
            }
            rename_indexes(tx, job, true)?;
            tx.batch_execute(&format!(
                "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {table}
                     FOR EACH ROW EXECUTE FUNCTION {};",
                job.forward_trigger(),
                job.forward_function()
            ))?;
            // back to where a swap can be made again
            job.set_phase(tx, Phase::Validated)
        });
    }
    // Before the swap: the application never saw ruvector's column; take it away.
    ddl::transaction(client, policy, "removing the dual-write trigger", |tx| {
        tx.batch_execute(&format!(
            "DROP TRIGGER IF EXISTS {} ON {}",
            job.forward_trigger(),
            job.table_sql()
        ))?;
        Ok(())
    })?;
    drop_indexes(client, job, |ix| ix.new.clone())?;
    let index_only = job.index_only();
    ddl::transaction(client, policy, "dropping the shadow column", |tx| {
        if !index_only {
            tx.batch_execute(&format!(
                "ALTER TABLE {} DROP COLUMN IF EXISTS {}",
                job.table_sql(),
                job.shadow_sql()
            ))?;
        }
        job.delete(tx)
    })
}

pub fn cleanup(client: &mut Client, job: &mut Job, policy: LockPolicy) -> Result<()> {
    if job.phase != Phase::Swapped {
        bail!(
            "{}.{} is {}: cleanup drops the pgvector column after a swap; to abandon the \
             migration use `ruvector-migrate rollback`",
            job.table_sql(),
            job.target.column,
            job.phase.name()
        );
    }
    ddl::transaction(client, policy, "removing the copy-back trigger", |tx| {
        tx.batch_execute(&format!(
            "DROP TRIGGER IF EXISTS {} ON {}",
            job.back_trigger(),
            job.table_sql()
        ))?;
        Ok(())
    })?;
    drop_indexes(client, job, |ix| format!("{}_pgvector", ix.old))?;
    let index_only = job.index_only();
    ddl::transaction(client, policy, "dropping the pgvector column", |tx| {
        if !index_only {
            tx.batch_execute(&format!(
                "ALTER TABLE {} DROP COLUMN {}",
                job.table_sql(),
                job.old_sql()
            ))?;
        }
        job.delete(tx)
    })
}

/// Exchanges the indexes' names: pgvector's become `<name>_pgvector` and ruvector's take
/// `<name>`, or (`back`) the reverse.
fn rename_indexes(tx: &mut postgres::Transaction, job: &Job, back: bool) -> Result<()> {
    for ix in &job.indexes {
        let pgvector = format!("{}_pgvector", ix.old);
        let (first, first_to, second, second_to) = if back {
            (&ix.old, &ix.new, &pgvector, &ix.old)
        } else {
            (&ix.old, &pgvector, &ix.new, &ix.old)
        };
        tx.batch_execute(&format!(
            "ALTER INDEX {} RENAME TO {};
             ALTER INDEX {} RENAME TO {};",
            job.index_sql(first),
            quote(first_to),
            job.index_sql(second),
            quote(second_to),
        ))?;
    }
    Ok(())
}

/// Drops the indexes named by `name` (concurrently, except on a partitioned table, where
/// PostgreSQL does not allow it).
fn drop_indexes(
    client: &mut Client,
    job: &Job,
    name: impl Fn(&crate::target::IndexPlan) -> String,
) -> Result<()> {
    let concurrently = if job.target.is_partitioned() {
        ""
    } else {
        "CONCURRENTLY"
    };
    for ix in &job.indexes {
        client.batch_execute(&format!(
            "DROP INDEX {concurrently} IF EXISTS {}",
            job.index_sql(&name(ix))
        ))?;
    }
    Ok(())
}

/// Converts the column in place: one transaction under ACCESS EXCLUSIVE that drops the column's
/// indexes, changes its type (a table rewrite) and builds the ruvector indexes under the same
/// names. For small tables and maintenance windows.
pub fn in_place(
    client: &mut Client,
    target: &crate::target::Target,
    policy: LockPolicy,
) -> Result<()> {
    let indexes = target.indexes(client, &target.column)?;
    ddl::transaction(client, policy, "converting the column in place", |tx| {
        let table = target.table_sql();
        tx.batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))?;
        for ix in &indexes {
            tx.batch_execute(&format!(
                "DROP INDEX {}",
                crate::ident::qualified(&target.schema, &ix.old)
            ))?;
        }
        tx.batch_execute(&format!(
            "ALTER TABLE {table} ALTER COLUMN {} TYPE {}",
            quote(&target.column),
            target.ruvector_type()
        ))?;
        for ix in &indexes {
            tx.batch_execute(&format!(
                "CREATE INDEX {} ON {table} {}",
                quote(&ix.old),
                ix.using_shadow
            ))?;
        }
        Ok(())
    })
}
