//! Talking to the server: connecting, one database per extension (ruvector and pgvector both
//! define `halfvec`/`sparsevec`, so they cannot share a schema), loading a dataset with binary
//! COPY, building an index and reading sizes and settings.

use crate::dataset::Dataset;
use crate::profile::{Extension, Profile};
use crate::wire::CopyRows;
use anyhow::{bail, Context, Result};
use postgres::{Client, Config, NoTls};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::str::FromStr;
use std::time::Instant;

/// Connection settings given on the command line, with the database they name.
#[derive(Clone)]
pub struct Server {
    pub url: String,
    config: Config,
}

impl Server {
    pub fn new(url: &str) -> Result<Server> {
        let config = Config::from_str(url)
            .with_context(|| format!("cannot parse connection string {url:?}"))?;
        Ok(Server {
            url: url.to_string(),
            config,
        })
    }

    /// A connection to the database named in the connection string.
    pub fn connect(&self) -> Result<Client> {
        connect(&self.config, &self.url)
    }

    /// A connection to another database of the same server.
    pub fn connect_to(&self, dbname: &str) -> Result<Client> {
        let mut c = self.config.clone();
        c.dbname(dbname);
        connect(&c, &self.url)
    }

    pub fn config_for(&self, dbname: &str) -> Config {
        let mut c = self.config.clone();
        c.dbname(dbname);
        c
    }

    /// Creates database `name` if it does not exist.
    pub fn ensure_database(&self, name: &str) -> Result<()> {
        let mut admin = self.connect()?;
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])?
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!("CREATE DATABASE {}", ident(name)))
                .with_context(|| format!("cannot create database {name}"))?;
        }
        Ok(())
    }
}

fn connect(config: &Config, url: &str) -> Result<Client> {
    config.connect(NoTls).map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to PostgreSQL at {url:?}: {e}. Start the scratch cluster with \
             `scripts/demo.sh`, or pass --url"
        )
    })
}

/// Quotes an SQL identifier.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The database a benchmark of `ext` uses.
pub fn database_for(prefix: &str, ext: Extension) -> String {
    format!("{prefix}_{}", ext.label())
}

/// Creates the extension if needed; returns its installed version.
pub fn ensure_extension(client: &mut Client, ext: Extension) -> Result<String> {
    let name = ext.extension_name();
    let available = client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = $1",
            &[&name],
        )?
        .is_some();
    if !available {
        match ext {
            Extension::Ruvector => bail!(
                "extension ruvector is not installed on this server: run `scripts/demo.sh` (or \
                 `cargo pgrx install --release`) first"
            ),
            Extension::Pgvector => bail!(
                "pgvector (extension \"vector\") is not installed on this server: build and \
                 install it from https://github.com/pgvector/pgvector, or drop --compare"
            ),
        }
    }
    client.batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {name}"))?;
    let row = client.query_one(
        "SELECT extversion FROM pg_extension WHERE extname = $1",
        &[&name],
    )?;
    Ok(row.get(0))
}

/// Whether an index access method exists (e.g. `ruivfflat` in this ruvector version).
pub fn has_access_method(client: &mut Client, am: &str) -> Result<bool> {
    Ok(client
        .query_opt("SELECT 1 FROM pg_am WHERE amname = $1", &[&am])?
        .is_some())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadReport {
    pub table: String,
    pub rows: usize,
    /// Seconds for the binary COPY (0 when an identical table was reused).
    pub seconds: f64,
    pub reused: bool,
    pub table_bytes: i64,
}

/// FNV-1a, continuing from `h`.
fn fnv(mut h: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf29ce484222325;

/// A fingerprint of the data, stored as the table comment so an identical table is reused:
/// the raw floats, and the names and values of any extra columns.
fn fingerprint(ds: &Dataset, columns: &[IntColumn]) -> String {
    let h = fnv(
        FNV_OFFSET,
        ds.base.data.iter().flat_map(|x| x.to_le_bytes()),
    );
    let mut fp = format!(
        "ruvector-bench {} rows={} dim={} fnv={h:016x}",
        ds.name,
        ds.base.len(),
        ds.base.dim
    );
    if !columns.is_empty() {
        let mut h = FNV_OFFSET;
        for c in columns {
            h = fnv(h, c.name.bytes());
            h = fnv(h, c.values.iter().flat_map(|x| x.to_le_bytes()));
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        fp.push_str(&format!(" columns={} fnv={h:016x}", names.join(",")));
    }
    fp
}

/// A non-null `int4` column loaded with the vectors (`values[i]` for the row with id `i`).
pub struct IntColumn<'a> {
    pub name: &'a str,
    pub values: &'a [i32],
}

/// Loads the dataset into `table (id int4 primary key, embedding <type>(dim))` with binary COPY,
/// unless the table already holds exactly this data.
pub fn load(
    client: &mut Client,
    ext: Extension,
    table: &str,
    ds: &Dataset,
    progress: &indicatif::ProgressBar,
) -> Result<LoadReport> {
    load_with_columns(client, ext, table, ds, &[], progress)
}

/// [`load`] with further `int4 NOT NULL` columns after `embedding` (the filter columns of
/// `--filter`); they are part of the fingerprint, so a table with other values is reloaded.
pub fn load_with_columns(
    client: &mut Client,
    ext: Extension,
    table: &str,
    ds: &Dataset,
    columns: &[IntColumn],
    progress: &indicatif::ProgressBar,
) -> Result<LoadReport> {
    if let Some(c) = columns.iter().find(|c| c.values.len() != ds.base.len()) {
        bail!(
            "column {} has {} values for {} rows",
            c.name,
            c.values.len(),
            ds.base.len()
        );
    }
    let fp = fingerprint(ds, columns);
    // The fingerprint, if the table still has its embedding column of the right type (DROP
    // EXTENSION ... CASCADE drops the column and keeps the table and its comment).
    let column_type = format!("{}({})", ext.type_name(), ds.base.dim);
    let existing: Option<String> = client
        .query_opt(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c \
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding' \
                AND NOT a.attisdropped \
             WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace \
               AND format_type(a.atttypid, a.atttypmod) = $2",
            &[&table, &column_type],
        )?
        .and_then(|r| r.get(0));
    let size = |client: &mut Client| -> Result<i64> {
        Ok(client
            .query_one("SELECT pg_table_size($1::text::regclass)", &[&table])?
            .get(0))
    };
    if existing.as_deref() == Some(fp.as_str()) {
        return Ok(LoadReport {
            table: table.into(),
            rows: ds.base.len(),
            seconds: 0.0,
            reused: true,
            table_bytes: size(client)?,
        });
    }
    let extra_defs: String = columns
        .iter()
        .map(|c| format!(", {} int4 NOT NULL", ident(c.name)))
        .collect();
    let extra_names: String = columns
        .iter()
        .map(|c| format!(", {}", ident(c.name)))
        .collect();
    client.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t}; \
         CREATE TABLE {t} (id int4 PRIMARY KEY, embedding {ty}({dim}){extra_defs})",
        t = ident(table),
        ty = ext.type_name(),
        dim = ds.base.dim
    ))?;
    progress.set_length(ds.base.len() as u64);
    progress.set_message(format!("loading {table} ({})", ext.label()));
    let start = Instant::now();
    let mut w = client.copy_in(&format!(
        "COPY {} (id, embedding{extra_names}) FROM STDIN (FORMAT BINARY)",
        ident(table)
    ))?;
    let mut rows = CopyRows::new();
    let mut ints = Vec::with_capacity(columns.len());
    for (i, v) in ds.base.rows().enumerate() {
        ints.clear();
        ints.extend(columns.iter().map(|c| c.values[i]));
        rows.row_with_ints(i as i32, v, &ints);
        if rows.len() >= 1 << 20 {
            w.write_all(&rows.take())?;
            progress.set_position(i as u64 + 1);
        }
    }
    w.write_all(&rows.finish())?;
    w.finish().context("binary COPY failed")?;
    client.batch_execute(&format!(
        "COMMENT ON TABLE {} IS '{}'",
        ident(table),
        fp.replace('\'', "''"),
    ))?;
    client.batch_execute(&format!("VACUUM ANALYZE {}", ident(table)))?;
    let seconds = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    Ok(LoadReport {
        table: table.into(),
        rows: ds.base.len(),
        seconds,
        reused: false,
        table_bytes: size(client)?,
    })
}

/// Settings that shape an index build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuildSettings {
    pub maintenance_work_mem: String,
    pub max_parallel_maintenance_workers: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuildReport {
    pub index: String,
    pub seconds: f64,
    pub index_bytes: i64,
}

/// Drops and rebuilds the profile's index on `table`; times it and measures its size.
pub fn build_index(
    client: &mut Client,
    profile: &Profile,
    table: &str,
    ds: &Dataset,
    settings: &BuildSettings,
) -> Result<Option<BuildReport>> {
    let index = format!("{table}_idx");
    client.batch_execute(&format!("DROP INDEX IF EXISTS {}", ident(&index)))?;
    let Some(sql) = profile.create_index_sql(&ident(table), &ident(&index), ds.metric) else {
        return Ok(None);
    };
    let am = profile.access_method().unwrap();
    if !has_access_method(client, am)? {
        bail!(
            "access method {am} does not exist in the installed {} version",
            profile.extension.label()
        );
    }
    client.batch_execute(&format!(
        "SET maintenance_work_mem = '{}'; SET max_parallel_maintenance_workers = {}",
        settings.maintenance_work_mem, settings.max_parallel_maintenance_workers
    ))?;
    // Start from a checkpoint so the build does not pay for earlier writes (needs superuser or
    // pg_checkpoint; without it the build is timed as is).
    let _ = client.batch_execute("CHECKPOINT");
    let start = Instant::now();
    client
        .batch_execute(&sql)
        .with_context(|| format!("index build failed: {sql}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let index_bytes: i64 = client
        .query_one("SELECT pg_relation_size($1::text::regclass)", &[&index])?
        .get(0);
    client.batch_execute("RESET maintenance_work_mem; RESET max_parallel_maintenance_workers")?;
    Ok(Some(BuildReport {
        index,
        seconds,
        index_bytes,
    }))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    pub settings: Vec<(String, String)>,
}

/// Server version and the settings that matter for vector search speed. `huge_pages_status`
/// (PostgreSQL 17 and later) says whether shared memory got huge pages: without them each
/// random read of a page in shared buffers can miss the TLB, which costs pgvector's one-by-one
/// reads more than ruvector's batched ones, so ratios differ between the two (README, "Speed
/// against pgvector").
pub fn server_info(client: &mut Client) -> Result<ServerInfo> {
    let version: String = client.query_one("SELECT version()", &[])?.get(0);
    let names = [
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "max_parallel_workers_per_gather",
        "max_parallel_maintenance_workers",
        "jit",
        "effective_cache_size",
        "huge_pages",
        "huge_pages_status",
    ];
    let mut settings = Vec::new();
    for n in names {
        // missing_ok: a setting this major does not have is left out.
        let v: Option<String> = client
            .query_one("SELECT current_setting($1, true)", &[&n])?
            .get(0);
        if let Some(v) = v {
            settings.push((n.to_string(), v));
        }
    }
    Ok(ServerInfo { version, settings })
}
