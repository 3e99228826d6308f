//! The state of a migration, kept in the database (table `ruvector_migrate.jobs`) and updated in
//! the same transaction as the work it records, so a crash or `kill` at any point resumes from
//! the last committed step.

use crate::ident::{qualified, quote};
use crate::target::{IndexPlan, Target};
use anyhow::{bail, Context, Result};
use postgres::{Client, GenericClient};

/// The schema holding the state table and the triggers' functions.
pub const SCHEMA: &str = "ruvector_migrate";

/// Where a migration stands; each phase is entered when the previous one has committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Shadow column and dual-write trigger in place; backfill under way.
    Started,
    /// Every row's shadow value written.
    Backfilled,
    /// The ruvector indexes built on the shadow column.
    Indexed,
    /// Values and recall checked.
    Validated,
    /// Names swapped: the application uses ruvector's column; the pgvector column is kept in
    /// step for rollback.
    Swapped,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Backfilled => "backfilled",
            Phase::Indexed => "indexed",
            Phase::Validated => "validated",
            Phase::Swapped => "swapped",
        }
    }

    fn parse(s: &str) -> Result<Phase> {
        Ok(match s {
            "started" => Phase::Started,
            "backfilled" => Phase::Backfilled,
            "indexed" => Phase::Indexed,
            "validated" => Phase::Validated,
            "swapped" => Phase::Swapped,
            _ => bail!("unknown migration phase {s:?} in {SCHEMA}.jobs"),
        })
    }
}

/// One migration: a row of `ruvector_migrate.jobs`.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: i32,
    pub target: Target,
    /// The ruvector column being filled (`<column>_ruvector`).
    pub shadow: String,
    /// The pgvector column's name after the swap (`<column>_pgvector`).
    pub old_name: String,
    pub phase: Phase,
    /// The primary key of the last row backfilled, as text, or None before the first batch.
    pub last_key: Option<Vec<String>>,
    pub rows_done: i64,
    pub indexes: Vec<IndexPlan>,
}

/// Creates the state schema and table if they do not exist.
pub fn ensure_schema(client: &mut Client) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {SCHEMA};
             CREATE TABLE IF NOT EXISTS {SCHEMA}.jobs (
                 id serial PRIMARY KEY,
                 relid oid NOT NULL,
                 table_name text NOT NULL,
                 column_name name NOT NULL,
                 shadow_name name NOT NULL,
                 old_name name NOT NULL,
                 target_type text NOT NULL,
                 phase text NOT NULL,
                 last_key text[],
                 rows_done bigint NOT NULL DEFAULT 0,
                 indexes jsonb NOT NULL DEFAULT '[]',
                 started_at timestamptz NOT NULL DEFAULT now(),
                 updated_at timestamptz NOT NULL DEFAULT now(),
                 UNIQUE (relid, column_name)
             );
             COMMENT ON TABLE {SCHEMA}.jobs IS
                 'ruvector-migrate: one row per column being moved from pgvector to ruvector';"
        ))
        .context("cannot create the state table ruvector_migrate.jobs")
}

impl Job {
    /// The migration of `target`'s column, if one was started (and not rolled back or cleaned
    /// up). After the swap the column is found under its old name.
    pub fn load(client: &mut Client, relid: u32, column: &str) -> Result<Option<Job>> {
        let exists = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("{SCHEMA}.jobs")],
            )?
            .get::<_, bool>(0);
        if !exists {
            return Ok(None);
        }
        let Some(r) = client.query_opt(
            &format!(
                "SELECT id, table_name, column_name::text, shadow_name::text, old_name::text, phase,
                        last_key, rows_done, indexes::text
                   FROM {SCHEMA}.jobs WHERE relid = $1::int8::oid AND column_name = $2"
            ),
            &[&(relid as i64), &column],
        )?
        else {
            return Ok(None);
        };
        let phase = Phase::parse(r.get(5))?;
        let table: String = r.get(1);
        // After the swap the pgvector column has the old name; the shadow has the column's.
        let target = Target::find(
            client,
            &table,
            if phase == Phase::Swapped {
                r.get(4)
            } else {
                r.get(2)
            },
        )?;
        let mut target = target;
        target.column = r.get(2);
        Ok(Some(Job {
            id: r.get(0),
            target,
            shadow: r.get(3),
            old_name: r.get(4),
            phase,
            last_key: r.get(6),
            rows_done: r.get(7),
            indexes: serde_json::from_str(r.get::<_, &str>(8))?,
        }))
    }

    /// Records a new migration (in the caller's transaction).
    pub fn insert(
        tx: &mut impl GenericClient,
        target: &Target,
        shadow: &str,
        old_name: &str,
        indexes: &[IndexPlan],
    ) -> Result<Job> {
        let id: i32 = tx
            .query_one(
                &format!(
                    "INSERT INTO {SCHEMA}.jobs (relid, table_name, column_name, shadow_name,
                                                old_name, target_type, phase, indexes)
                     VALUES ($1::int8::oid, $2, $3, $4, $5, $6, 'started', $7::text::jsonb)
                     RETURNING id"
                ),
                &[
                    &(target.relid as i64),
                    &target.table_sql(),
                    &target.column,
                    &shadow,
                    &old_name,
                    &target.ruvector_type(),
                    &serde_json::to_string(indexes)?,
                ],
            )?
            .get(0);
        Ok(Job {
            id,
            target: target.clone(),
            shadow: shadow.to_string(),
            old_name: old_name.to_string(),
            phase: Phase::Started,
            last_key: None,
            rows_done: 0,
            indexes: indexes.to_vec(),
        })
    }

    /// Moves to `phase` (in the caller's transaction).
    pub fn set_phase(&mut self, tx: &mut impl GenericClient, phase: Phase) -> Result<()> {
        tx.execute(
            &format!("UPDATE {SCHEMA}.jobs SET phase = $2, updated_at = now() WHERE id = $1"),
            &[&self.id, &phase.name()],
        )?;
        self.phase = phase;
        Ok(())
    }

    /// Forgets the migration (in the caller's transaction), with its trigger functions.
    pub fn delete(&self, tx: &mut impl GenericClient) -> Result<()> {
        tx.batch_execute(&format!(
            "DELETE FROM {SCHEMA}.jobs WHERE id = {};
             DROP FUNCTION IF EXISTS {};
             DROP FUNCTION IF EXISTS {};",
            self.id,
            self.forward_function(),
            self.back_function()
        ))?;
        Ok(())
    }

    /// The trigger function copying the pgvector column into the shadow.
    pub fn forward_function(&self) -> String {
        format!("{SCHEMA}.sync_{}()", self.id)
    }

    /// The trigger function copying the ruvector column back into the pgvector one (after the
    /// swap, for rollback).
    pub fn back_function(&self) -> String {
        format!("{SCHEMA}.back_{}()", self.id)
    }

    /// `schema.table`, quoted.
    pub fn table_sql(&self) -> String {
        self.target.table_sql()
    }

    /// A `bit` column: only its indexes are replaced, the column stays.
    pub fn index_only(&self) -> bool {
        self.shadow == self.target.column
    }

    /// The dual-write trigger (before the swap) and the copy-back trigger (after it); named
    /// per migration, so several columns of one table can be migrated one after another.
    pub fn forward_trigger(&self) -> String {
        format!("ruvector_migrate_sync_{}", self.id)
    }

    pub fn back_trigger(&self) -> String {
        format!("ruvector_migrate_back_{}", self.id)
    }

    /// The pgvector column and the ruvector column, quoted, by their names now: before the
    /// swap the column and its shadow; after it the old name and the column; for a `bit`
    /// column (index-only) the column itself twice.
    pub fn columns_now(&self) -> (String, String) {
        if self.index_only() {
            (self.column_sql(), self.column_sql())
        } else if self.phase == Phase::Swapped {
            (self.old_sql(), self.column_sql())
        } else {
            (self.column_sql(), self.shadow_sql())
        }
    }

    pub fn column_sql(&self) -> String {
        quote(&self.target.column)
    }

    pub fn shadow_sql(&self) -> String {
        quote(&self.shadow)
    }

    pub fn old_sql(&self) -> String {
        quote(&self.old_name)
    }

    /// `schema.name` of an index of the table.
    pub fn index_sql(&self, name: &str) -> String {
        qualified(&self.target.schema, name)
    }
}
