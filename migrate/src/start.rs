//! Phase 1: the shadow column of ruvector's type and the trigger that writes it on every insert
//! and update, so that from this commit on every row written by the application carries its
//! ruvector value; the backfill then fills in the rows written before.

use crate::ddl::{self, LockPolicy};
use crate::job::{self, Job};
use crate::target::{Kind, Target};
use anyhow::{bail, Result};
use postgres::Client;

pub fn start(client: &mut Client, target: &Target, policy: LockPolicy) -> Result<Job> {
    job::ensure_schema(client)?;
    if target.kind == Kind::Bit {
        // the values stay as they are; only the indexes are replaced
        let indexes = target.indexes(client, &target.column)?;
        if indexes.is_empty() {
            bail!(
                "no pgvector index on {}.{}: nothing to migrate",
                target.table_sql(),
                target.column
            );
        }
        return ddl::transaction(client, policy, "recording the migration", |tx| {
            let mut job = Job::insert(tx, target, &target.column, &target.column, &indexes)?;
            job.set_phase(tx, job::Phase::Backfilled)?;
            Ok(job)
        });
    }
    let shadow = format!("{}_ruvector", target.column);
    let old_name = format!("{}_pgvector", target.column);
    for name in [&shadow, &old_name] {
        if name.len() > 63 {
            bail!("column name {name} would be longer than 63 bytes: rename the column first");
        }
        let taken = client
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = $1::int8::oid
                                 AND attname = $2 AND NOT attisdropped)",
                &[&(target.relid as i64), name],
            )?
            .get::<_, bool>(0);
        if taken {
            bail!("{} already has a column {name}", target.table_sql());
        }
    }
    let indexes = target.indexes(client, &shadow)?;
    ddl::transaction(client, policy, "adding the shadow column", |tx| {
        let mut job = Job::insert(tx, target, &shadow, &old_name, &indexes)?;
        // ADD COLUMN without a default only changes the catalog. The trigger function copies
        // through the binary-coercible cast (ruvector's src/migrate/casts.rs): no float is
        // touched.
        tx.batch_execute(&format!(
            "ALTER TABLE {table} ADD COLUMN {shadow} {ty};
             CREATE FUNCTION {func} RETURNS trigger LANGUAGE plpgsql AS $f$
             BEGIN
                 NEW.{shadow} := NEW.{column};
                 RETURN NEW;
             END
             $f$;
             CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {table}
                 FOR EACH ROW EXECUTE FUNCTION {func};",
            table = job.table_sql(),
            shadow = job.shadow_sql(),
            column = job.column_sql(),
            ty = target.ruvector_type(),
            func = job.forward_function(),
            trigger = job.forward_trigger(),
        ))?;
        if target.not_null {
            // Checked before the swap without blocking writes (VALIDATE CONSTRAINT takes SHARE
            // UPDATE EXCLUSIVE), so that SET NOT NULL at the swap needs no scan.
            tx.batch_execute(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID",
                job.table_sql(),
                crate::ident::quote(&format!("{shadow}_not_null")),
                job.shadow_sql()
            ))?;
        }
        job.set_phase(tx, job::Phase::Started)?;
        Ok(job)
    })
}
