//! `ruvector-migrate`: the command line. See the crate documentation (src/lib.rs) and README,
//! "Migrating from pgvector".

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use postgres::{Client, NoTls};
use ruvector_migrate::backfill::{self, Pace};
use ruvector_migrate::ddl::LockPolicy;
use ruvector_migrate::job::{Job, Phase};
use ruvector_migrate::target::Target;
use ruvector_migrate::{index, start, swap, validate};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "ruvector-migrate",
    version,
    about = "Move pgvector columns to ruvector, online"
)]
struct Cli {
    /// Connection string (libpq key=value or postgresql:// URL); default $DATABASE_URL.
    #[arg(long, short = 'd', global = true, env = "DATABASE_URL")]
    dsn: Option<String>,
    /// No progress bars (for scripts and logs).
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// What migrating this database involves (ruvector_migration_plan()).
    Plan,
    /// The migrations under way.
    Status,
    /// Every phase from where the migration stands: start, backfill, index, validate, swap.
    Run(RunArgs),
    /// Adds the shadow column and the dual-write trigger.
    Start(Column),
    /// Copies existing rows into the shadow column (resumable).
    Backfill(BackfillArgs),
    /// Builds the ruvector indexes on the shadow column, concurrently.
    Index(IndexArgs),
    /// Compares values and recall; exits 1 if they do not pass.
    Validate(ValidateArgs),
    /// Exchanges the columns' and indexes' names in one short transaction.
    Swap(LockArgs),
    /// Undoes the swap; before a swap, removes the shadow column, trigger and indexes.
    Rollback(LockArgs),
    /// After a swap, drops the pgvector column and indexes.
    Cleanup(LockArgs),
    /// Converts the column in one transaction (ALTER TABLE ... TYPE): small tables, maintenance
    /// windows.
    InPlace(LockArgs),
}

#[derive(Args, Clone)]
struct Column {
    /// The table, optionally schema-qualified.
    table: String,
    /// The pgvector column.
    column: String,
}

#[derive(Args, Clone)]
struct BackfillArgs {
    #[command(flatten)]
    column: Column,
    #[command(flatten)]
    pace: PaceArgs,
}

#[derive(Args, Clone)]
struct PaceArgs {
    /// Rows per backfill transaction.
    #[arg(long, default_value_t = 1000)]
    batch: i64,
    /// Pause between backfill batches, in milliseconds.
    #[arg(long, default_value_t = 0)]
    sleep_ms: u64,
}

#[derive(Args, Clone)]
struct IndexArgs {
    #[command(flatten)]
    column: Column,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Args, Clone)]
struct BuildArgs {
    /// maintenance_work_mem for the index builds (e.g. 1GB); ruhnsw builds in memory up to it
    /// and slower beyond. Default: the server's setting.
    #[arg(long)]
    maintenance_work_mem: Option<String>,
}

#[derive(Args, Clone)]
struct ValidateArgs {
    #[command(flatten)]
    column: Column,
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(Args, Clone)]
struct CheckArgs {
    /// Sample rows whose vectors are the recall queries.
    #[arg(long, default_value_t = 100)]
    queries: usize,
    /// Also write the validation report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// When a ruvector index's recall falls short at the current settings, raise
    /// ruvector.ef_search / ruvector.probes for this database (ALTER DATABASE ... SET) to the
    /// smallest value that matches pgvector's, and validate again.
    #[arg(long)]
    tune_recall: bool,
}

#[derive(Args, Clone)]
struct LockArgs {
    #[command(flatten)]
    column: Column,
    #[command(flatten)]
    lock: LockOpts,
}

#[derive(Args, Clone, Copy)]
struct LockOpts {
    /// lock_timeout of each DDL transaction, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    lock_timeout_ms: u64,
    /// Attempts when the lock is not granted in time.
    #[arg(long, default_value_t = 30)]
    attempts: u32,
}

impl From<LockOpts> for LockPolicy {
    fn from(o: LockOpts) -> Self {
        LockPolicy {
            lock_timeout_ms: o.lock_timeout_ms,
            attempts: o.attempts,
        }
    }
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    column: Column,
    #[command(flatten)]
    pace: PaceArgs,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    check: CheckArgs,
    #[command(flatten)]
    lock: LockOpts,
    /// Stop after validation; swap later with `ruvector-migrate swap`.
    #[arg(long)]
    no_swap: bool,
}

fn main() {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ruvector-migrate: {e:#}");
            std::process::exit(2);
        }
    }
}

fn connect(cli: &Cli) -> Result<Client> {
    let dsn = cli
        .dsn
        .clone()
        .context("no database: give --dsn 'host=... dbname=...' or set DATABASE_URL")?;
    let mut client =
        Client::connect(&dsn, NoTls).with_context(|| format!("cannot connect to {dsn}"))?;
    client.batch_execute("SET application_name = 'ruvector-migrate'")?;
    Ok(client)
}

/// The migration of a column, if one was started.
fn find_job(client: &mut Client, c: &Column) -> Result<Option<Job>> {
    let relid = client
        .query_opt("SELECT to_regclass($1)::oid::int8", &[&c.table])?
        .and_then(|r| r.get::<_, Option<i64>>(0))
        .with_context(|| format!("table {} does not exist", c.table))? as u32;
    Job::load(client, relid, &c.column)
}

/// The migration of a column, which must have been started.
fn job(client: &mut Client, c: &Column) -> Result<Job> {
    find_job(client, c)?.with_context(|| {
        format!(
            "no migration of {}.{} is under way: ruvector-migrate start {} {}",
            c.table, c.column, c.table, c.column
        )
    })
}

fn run(cli: &Cli) -> Result<i32> {
    let mut client = connect(cli)?;
    let progress = !cli.quiet;
    match &cli.command {
        Command::Plan => plan(&mut client)?,
        Command::Status => status(&mut client)?,
        Command::Start(c) => {
            let target = Target::find(&mut client, &c.table, &c.column)?;
            let job = start::start(&mut client, &target, LockPolicy::default())?;
            println!(
                "started: {}.{} is written to {} as well; {} index(es) to build",
                job.table_sql(),
                target.column,
                job.shadow,
                job.indexes.len()
            );
        }
        Command::Backfill(a) => {
            let mut job = job(&mut client, &a.column)?;
            do_backfill(&mut client, &mut job, &a.pace, progress)?;
        }
        Command::Index(a) => {
            let mut job = job(&mut client, &a.column)?;
            build_indexes(&mut client, &mut job, &a.build, progress)?;
        }
        Command::Validate(a) => {
            let mut job = job(&mut client, &a.column)?;
            return do_validate(&mut client, &mut job, &a.check, progress);
        }
        Command::Swap(a) => {
            let mut job = job(&mut client, &a.column)?;
            swap::swap(&mut client, &mut job, a.lock.into())?;
            println!(
                "swapped: {}.{} is ruvector's now",
                job.table_sql(),
                job.target.column
            );
        }
        Command::Rollback(a) => {
            let mut job = job(&mut client, &a.column)?;
            let swapped = job.phase == Phase::Swapped;
            swap::rollback(&mut client, &mut job, a.lock.into())?;
            if swapped {
                println!(
                    "rolled back: {}.{} is pgvector's again (ruvector's stays in step as {})",
                    job.table_sql(),
                    job.target.column,
                    job.shadow
                );
            } else {
                println!("abandoned: shadow column, trigger and ruvector indexes removed");
            }
        }
        Command::Cleanup(a) => {
            let mut job = job(&mut client, &a.column)?;
            swap::cleanup(&mut client, &mut job, a.lock.into())?;
            println!(
                "cleaned up: pgvector column {} and its indexes dropped",
                job.old_name
            );
        }
        Command::InPlace(a) => {
            let target = Target::find(&mut client, &a.column.table, &a.column.column)?;
            swap::in_place(&mut client, &target, a.lock.into())?;
            println!(
                "converted {}.{} to {}",
                target.table_sql(),
                target.column,
                target.ruvector_type()
            );
        }
        Command::Run(a) => {
            let c = &a.column;
            let mut job = match find_job(&mut client, c)? {
                Some(j) => {
                    eprintln!(
                        "resuming: {}.{} is {}",
                        j.table_sql(),
                        c.column,
                        j.phase.name()
                    );
                    j
                }
                None => {
                    let target = Target::find(&mut client, &c.table, &c.column)?;
                    start::start(&mut client, &target, a.lock.into())?
                }
            };
            if job.phase == Phase::Started {
                do_backfill(&mut client, &mut job, &a.pace, progress)?;
            }
            if job.phase == Phase::Backfilled {
                build_indexes(&mut client, &mut job, &a.build, progress)?;
            }
            if job.phase == Phase::Indexed {
                let code = do_validate(&mut client, &mut job, &a.check, progress)?;
                if code != 0 {
                    return Ok(code);
                }
            }
            if job.phase == Phase::Validated && !a.no_swap {
                swap::swap(&mut client, &mut job, a.lock.into())?;
                println!(
                    "swapped: {}.{} is ruvector's now",
                    job.table_sql(),
                    c.column
                );
            }
        }
    }
    Ok(0)
}

fn do_backfill(client: &mut Client, job: &mut Job, pace: &PaceArgs, progress: bool) -> Result<()> {
    if job.phase != Phase::Started {
        bail!(
            "{}.{} is {}: the backfill is done",
            job.table_sql(),
            job.target.column,
            job.phase.name()
        );
    }
    let r = backfill::backfill(
        client,
        job,
        Pace {
            batch: pace.batch,
            sleep: Duration::from_millis(pace.sleep_ms),
            progress,
        },
    )?;
    println!(
        "backfilled {} rows in {} batches, {:.1} s ({:.0} rows/s)",
        r.rows,
        r.batches,
        r.seconds,
        r.rows as f64 / r.seconds.max(1e-9)
    );
    Ok(())
}

fn build_indexes(
    client: &mut Client,
    job: &mut Job,
    build: &BuildArgs,
    progress: bool,
) -> Result<()> {
    if let Some(mem) = &build.maintenance_work_mem {
        client
            .execute(
                "SELECT set_config('maintenance_work_mem', $1, false)",
                &[mem],
            )
            .with_context(|| format!("maintenance_work_mem = {mem}"))?;
    }
    index::build(client, job, progress)
}

fn do_validate(
    client: &mut Client,
    job: &mut Job,
    check: &CheckArgs,
    progress: bool,
) -> Result<i32> {
    if job.phase < Phase::Indexed {
        bail!(
            "{}.{} is {}: build the indexes first",
            job.table_sql(),
            job.target.column,
            job.phase.name()
        );
    }
    let mut report = validate::validate(client, job, check.queries, 5000, progress)?;
    validate::print(&report);
    let tuned: Vec<&validate::Tuned> = report
        .indexes
        .iter()
        .filter_map(|i| i.tuned.as_ref())
        .collect();
    if !report.passed && check.tune_recall && report.differing_rows == 0 && !tuned.is_empty() {
        // one value per setting (the largest any index needs): it applies database-wide
        let mut settings: Vec<(String, i64)> = Vec::new();
        for t in tuned {
            match settings.iter_mut().find(|(s, _)| *s == t.setting) {
                Some((_, v)) => *v = (*v).max(t.value),
                None => settings.push((t.setting.clone(), t.value)),
            }
        }
        for (setting, value) in &settings {
            client.batch_execute(&format!(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET {setting} = {value}', current_database()); END $$;
                 SET {setting} = {value};"
            ))?;
            println!("set {setting} = {value} for this database");
        }
        report = validate::validate(client, job, check.queries, 5000, progress)?;
        validate::print(&report);
    }
    if let Some(path) = &check.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.passed { 0 } else { 1 })
}

fn plan(client: &mut Client) -> Result<()> {
    let schema: String = client
        .query_opt(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'ruvector'",
            &[],
        )?
        .context("extension ruvector is not installed in this database")?
        .get(0);
    let rows = client.query(
        &format!(
            "SELECT kind, concat_ws('.', schema_name, table_name, coalesce(column_name, index_name)),
                    coalesce(pgvector_type, access_method || ' ' || opclass, setting),
                    est_rows, est_bytes, ruvector_ddl, migratable, reason
               FROM {schema}.ruvector_migration_plan()"
        ),
        &[],
    )?;
    if rows.is_empty() {
        println!("nothing of pgvector's to migrate");
    }
    for r in rows {
        let kind: String = r.get(0);
        let object: Option<String> = r.get(1);
        let what: Option<String> = r.get(2);
        let est: Option<i64> = r.get(3);
        let bytes: Option<i64> = r.get(4);
        println!(
            "{kind:<8} {} {}{}",
            object.unwrap_or_default(),
            what.unwrap_or_default(),
            match (est, bytes) {
                (Some(n), Some(b)) => format!(" (~{n} rows, ~{:.1} MiB)", b as f64 / 1048576.0),
                _ => String::new(),
            }
        );
        match (r.get::<_, bool>(6), r.get::<_, Option<String>>(5)) {
            (true, Some(ddl)) => println!("         -> {ddl}"),
            _ => println!("         cannot be migrated"),
        }
        if let Some(reason) = r.get::<_, Option<String>>(7) {
            println!("         note: {reason}");
        }
    }
    Ok(())
}

fn status(client: &mut Client) -> Result<()> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('ruvector_migrate.jobs') IS NOT NULL",
            &[],
        )?
        .get(0);
    if !exists {
        println!("no migration has been started in this database");
        return Ok(());
    }
    let rows = client.query(
        "SELECT table_name, column_name::text, phase, rows_done, updated_at::text FROM ruvector_migrate.jobs ORDER BY id",
        &[],
    )?;
    if rows.is_empty() {
        println!("no migration is under way");
    }
    for r in rows {
        println!(
            "{}.{}: {} ({} rows backfilled; updated {})",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, i64>(3),
            r.get::<_, String>(4)
        );
    }
    Ok(())
}
