//! One filtered-search run (`--filter`): the filter columns and exact answers, the table
//! loaded with them, then each configuration set in turn —
//!
//! 1. no index: the exact configuration (whatever plan the planner picks);
//! 2. the vector index (HNSW; with `--filter-keys` ruvector's multi-column one): one
//!    configuration per `ef_search` × iterative scan mode;
//! 3. with `--filter-btree`, a btree index on each filter column, then the HNSW configurations
//!    again, and the exact one after dropping the vector index —
//!
//! each configuration measured at every workload point on both extensions, alternating which
//! goes first so both see the same machine noise. Queries run as an application's would: one
//! prepared statement with the vector as `$1` and the filter value as `$2`, and the planner's
//! choice (no `enable_*` settings). The plan of every query is read with
//! `EXPLAIN (FORMAT JSON) EXECUTE` of a SQL-level prepared statement run in the same order, so it
//! shows the plan the plan cache gives each query — custom for the first five executions, then
//! possibly a generic plan for all the rest (one client's view: with `--clients N` each
//! connection has its own plan cache and starts with five custom plans of its own).

use crate::cli::{Args, CompareArg, IndexArg};
use crate::dataset::Dataset;
use crate::db::{self, BuildSettings, IntColumn, Server};
use crate::filter::{self, FilterColumn, Workload, WorkloadPoint};
use crate::filter_report::{
    self, ConfigSet, Configuration, FilterSettings, FilteredResults, IndexBuild, LoadedTable,
    Measurement, PointInfo, TenantSize,
};
use crate::plan::{self, PlanShape};
use crate::profile::{Extension, IndexKind, Profile};
use crate::report::{self, DatasetInfo, Machine, Results};
use crate::run::{load_dataset, progress_bar, table_name};
use crate::sweep::{percentile, run_timed, Timed};
use crate::wire::VectorParam;
use anyhow::{bail, Context, Result};
use postgres::{Client, Config, SimpleQueryMessage};
use std::path::PathBuf;
use std::time::Instant;

/// Queries run untimed before each measurement (caches, the connection's first plans).
const WARM_UP_QUERIES: usize = 10;

/// The iterative scan modes measured (pgvector 0.8's names; ruvector's are the same).
pub const ITERATIVE_MODES: [&str; 3] = ["off", "relaxed_order", "strict_order"];

/// One extension's database.
struct Target {
    ext: Extension,
    config: Config,
    version: String,
    /// The vector index's profile (`None` with `--index exact`).
    profile: Option<Profile>,
}

/// What every measurement of the run shares.
struct Shared<'a> {
    args: &'a Args,
    ds: &'a Dataset,
    table: String,
    queries: usize,
}

fn vector_index_name(table: &str) -> String {
    format!("{table}_idx")
}

fn btree_name(table: &str, column: &str) -> String {
    format!("{table}_{column}_btree")
}

/// `EXPLAIN`'s index names as the plan column shows them: the vector index by its access
/// method, a filter column's btree as `btree <column>`.
fn index_label(table: &str, am: &str, name: &str) -> String {
    if name == vector_index_name(table) {
        return am.to_string();
    }
    name.strip_prefix(&format!("{table}_"))
        .and_then(|n| n.strip_suffix("_btree"))
        .map_or_else(|| name.to_string(), |c| format!("btree {c}"))
}

/// Fails unless the extension has the iterative-scan setting with pgvector 0.8's modes.
fn check_iterative_scan(client: &mut Client, t: &Target) -> Result<()> {
    let Some(guc) = t.profile.as_ref().and_then(Profile::iterative_scan_guc) else {
        return Ok(());
    };
    // Custom settings exist once the library is loaded; a value of the type loads it.
    client.batch_execute(&format!("SELECT '[1]'::{}", t.ext.type_name()))?;
    let row = client.query_opt(
        "SELECT enumvals::text[] FROM pg_settings WHERE name = $1",
        &[&guc],
    )?;
    let modes: Vec<String> = row.and_then(|r| r.get(0)).unwrap_or_default();
    if ITERATIVE_MODES
        .iter()
        .any(|m| !modes.iter().any(|x| x == m))
    {
        bail!(
            "{} {} has no setting {guc} with modes {} (found {:?}): filtered runs need \
             iterative index scans (pgvector 0.8 or later)",
            t.ext.label(),
            t.version,
            ITERATIVE_MODES.join(", "),
            modes
        );
    }
    Ok(())
}

/// The statements that put a connection in `c`'s configuration.
fn setup(t: &Target, c: &Configuration) -> Vec<String> {
    let mut s = Vec::new();
    if let (Some(ef), Some(p)) = (c.ef_search, &t.profile) {
        s.push(format!("SET {} = {ef}", p.search_guc().unwrap()));
        if let (Some(mode), Some(guc)) = (&c.iterative_scan, p.iterative_scan_guc()) {
            s.push(format!("SET {guc} = {mode}"));
        }
    }
    s
}

fn query_sql(table: &str, column: &str, ds: &Dataset, k: usize) -> String {
    format!(
        "SELECT id FROM {} WHERE {} = $2 ORDER BY embedding {} $1 LIMIT {k}",
        db::ident(table),
        db::ident(column),
        ds.metric.operator()
    )
}

fn vector_literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// The plan of each of the point's queries, in order, through one SQL-level prepared statement
/// (so the plan cache decides custom or generic as for the measured statement; `EXPLAIN`
/// without `ANALYZE` only plans, a fraction of a millisecond per query).
fn explain(
    t: &Target,
    setup: &[String],
    cx: &Shared,
    point: &WorkloadPoint,
) -> Result<Vec<PlanShape>> {
    let mut client = t.config.connect(postgres::NoTls)?;
    client.batch_execute(&setup.join(";"))?;
    let sql = query_sql(&cx.table, &point.column_name, cx.ds, cx.args.k);
    client.batch_execute(&format!("PREPARE rvbench_filtered AS {sql}"))?;
    let am = t
        .profile
        .as_ref()
        .and_then(Profile::access_method)
        .unwrap_or("-");
    let label = |name: &str| index_label(&cx.table, am, name);
    let mut shapes = Vec::new();
    for q in 0..cx.queries {
        let stmt = format!(
            "EXPLAIN (FORMAT JSON, COSTS OFF) EXECUTE rvbench_filtered('{}', {})",
            vector_literal(cx.ds.queries.row(q)),
            point.values[q]
        );
        let json = client
            .simple_query(&stmt)?
            .into_iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .context("EXPLAIN returned no rows")?;
        shapes.push(plan::summarise(&json, &label)?);
    }
    Ok(shapes)
}

/// Runs the point's queries once in `c` and measures them.
fn measure_once(
    t: &Target,
    setup: &[String],
    cx: &Shared,
    point: &WorkloadPoint,
    message: &str,
) -> Result<Timed> {
    let sql = query_sql(&cx.table, &point.column_name, cx.ds, cx.args.k);
    let pb = progress_bar();
    pb.set_message(message.to_string());
    run_timed(
        &t.config,
        setup,
        &sql,
        cx.queries,
        cx.args.clients,
        &pb,
        |client, stmt, q| {
            Ok(client.query(
                stmt,
                &[&VectorParam(cx.ds.queries.row(q)), &point.values[q]],
            )?)
        },
    )
}

fn warm_up(t: &Target, setup: &[String], cx: &Shared, point: &WorkloadPoint) -> Result<()> {
    let mut client = t.config.connect(postgres::NoTls)?;
    client.batch_execute(&setup.join(";"))?;
    let stmt = client.prepare(&query_sql(&cx.table, &point.column_name, cx.ds, cx.args.k))?;
    for q in 0..WARM_UP_QUERIES.min(cx.queries) {
        client.query(
            &stmt,
            &[&VectorParam(cx.ds.queries.row(q)), &point.values[q]],
        )?;
    }
    Ok(())
}

/// A measurement from one timed run.
fn measurement(
    t: &Target,
    c: &Configuration,
    pi: usize,
    point: &WorkloadPoint,
    cx: &Shared,
    timed: &Timed,
    plans: &[PlanShape],
) -> Measurement {
    let k = cx.args.k;
    let mut results: Vec<&[u32]> = vec![&[]; cx.queries];
    for r in &timed.per_query {
        results[r.query] = &r.ids;
    }
    let returned: Vec<usize> = results.iter().map(|r| r.len()).collect();
    let matches = &point.matches[..cx.queries];
    let latencies = timed.sorted_latencies_ms();
    let by_tenant_size = if point.workload == Workload::Tenant {
        tenant_sizes(point, cx, &results, timed, plans)
    } else {
        Vec::new()
    };
    let plans = plan::tally(plans);
    Measurement {
        extension: t.ext,
        index: c.ef_search.and(t.profile.as_ref()).map(Profile::name),
        configuration: c.clone(),
        point: pi,
        workload: point.workload,
        column: point.column_name.clone(),
        recall: filter::mean_recall(&results, &point.truth[..cx.queries], k),
        fill_rate: filter::fill_rate(&returned, matches, k),
        fillable: matches.iter().filter(|&&m| m as usize >= k).count(),
        qps: timed.qps(),
        mean_ms: latencies.iter().sum::<f64>() / latencies.len() as f64,
        p50_ms: percentile(&latencies, 0.50),
        p95_ms: percentile(&latencies, 0.95),
        p99_ms: percentile(&latencies, 0.99),
        queries: cx.queries,
        clients: timed.clients,
        plan: plan::describe(&plans),
        plans,
        by_tenant_size,
    }
}

/// The measures of a `tenant` point's queries per tenant size class.
fn tenant_sizes(
    point: &WorkloadPoint,
    cx: &Shared,
    results: &[&[u32]],
    timed: &Timed,
    plans: &[PlanShape],
) -> Vec<TenantSize> {
    let k = cx.args.k;
    let rows = cx.ds.base.len();
    let mut took = vec![0.0; cx.queries];
    for r in &timed.per_query {
        took[r.query] = r.took.as_secs_f64() * 1000.0;
    }
    filter::TENANT_SIZES
        .iter()
        .enumerate()
        .map(|(class, (_, label))| {
            let qs: Vec<usize> = (0..cx.queries)
                .filter(|&q| filter::tenant_size_class(point.matches[q], rows) == class)
                .collect();
            let res: Vec<&[u32]> = qs.iter().map(|&q| results[q]).collect();
            let truth: Vec<Vec<u32>> = qs.iter().map(|&q| point.truth[q].clone()).collect();
            let returned: Vec<usize> = res.iter().map(|r| r.len()).collect();
            let matches: Vec<u32> = qs.iter().map(|&q| point.matches[q]).collect();
            let mut lat: Vec<f64> = qs.iter().map(|&q| took[q]).collect();
            lat.sort_by(f64::total_cmp);
            let shapes: Vec<PlanShape> = qs.iter().filter_map(|&q| plans.get(q).cloned()).collect();
            TenantSize {
                tenants: label.to_string(),
                queries: qs.len(),
                recall: filter::mean_recall(&res, &truth, k),
                fill_rate: filter::fill_rate(&returned, &matches, k),
                p50_ms: percentile(&lat, 0.5),
                plan: plan::describe(&plan::tally(&shapes)),
            }
        })
        .collect()
}

/// Measures configuration `c` at every point on every target: `--rounds` rounds alternating
/// which target goes first, the round with median QPS kept.
fn measure_all(
    targets: &[Target],
    c: &Configuration,
    points: &[WorkloadPoint],
    cx: &Shared,
    out: &mut Vec<Measurement>,
) -> Result<()> {
    for (pi, point) in points.iter().enumerate() {
        let setups: Vec<Vec<String>> = targets.iter().map(|t| setup(t, c)).collect();
        let mut plans = Vec::new();
        for (t, s) in targets.iter().zip(&setups) {
            plans.push(explain(t, s, cx, point)?);
            warm_up(t, s, cx, point)?;
        }
        let mut rounds: Vec<Vec<Timed>> = (0..targets.len()).map(|_| Vec::new()).collect();
        for round in 0..cx.args.rounds.max(1) {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if (pi + round + out.len()) % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let t = &targets[i];
                let msg = format!("{} {} {}", t.ext.label(), point.column_name, c.label());
                rounds[i].push(measure_once(t, &setups[i], cx, point, &msg)?);
            }
        }
        for (i, mut r) in rounds.into_iter().enumerate() {
            r.sort_by(|a, b| a.qps().total_cmp(&b.qps()));
            let timed = r.swap_remove(r.len() / 2);
            let m = measurement(&targets[i], c, pi, point, cx, &timed, &plans[i]);
            eprintln!(
                "{} {} {}: recall {:.3}, fill {}, {:.0} QPS, p99 {:.2} ms, {}",
                m.extension.label(),
                point.column_name,
                c.label(),
                m.recall,
                m.fill_rate.map_or("–".into(), |f| format!("{f:.2}")),
                m.qps,
                m.p99_ms,
                m.plan
            );
            out.push(m);
        }
    }
    Ok(())
}

/// Builds the vector index on every target (ruvector's multi-column one with --filter-keys).
fn build_vector_indexes(
    targets: &[Target],
    cx: &Shared,
    settings: &BuildSettings,
    builds: &mut Vec<IndexBuild>,
) -> Result<()> {
    for t in targets {
        let Some(p) = &t.profile else { continue };
        eprintln!("{}: building {}", t.ext.label(), p.name());
        let mut c = t.config.connect(postgres::NoTls)?;
        let b = match db::build_index(&mut c, p, &cx.table, cx.ds, settings) {
            Ok(b) => b.unwrap(),
            Err(e) if !p.keys.is_empty() => bail!(
                "--filter-keys: ruvector {} cannot build the multi-column index \
                 `USING ruhnsw (embedding {}, {})`: {e:#}\nMulti-column ruhnsw indexes (extra \
                 key columns checked during the graph traversal) are not in this ruvector \
                 version; run without --filter-keys",
                t.version,
                p.opclass(cx.ds.metric),
                p.keys.join(", ")
            ),
            Err(e) => return Err(e),
        };
        eprintln!(
            "{}: built in {:.1} s, {:.1} MiB",
            t.ext.label(),
            b.seconds,
            report::mib(b.index_bytes)
        );
        builds.push(IndexBuild {
            extension: t.ext,
            what: p.name(),
            build: b,
        });
    }
    Ok(())
}

/// A btree index on each measured filter column of every target.
fn build_btrees(
    targets: &[Target],
    cx: &Shared,
    points: &[WorkloadPoint],
    builds: &mut Vec<IndexBuild>,
) -> Result<()> {
    for t in targets {
        let mut c = t.config.connect(postgres::NoTls)?;
        for p in points {
            let name = btree_name(&cx.table, &p.column_name);
            let start = Instant::now();
            c.batch_execute(&format!(
                "CREATE INDEX {} ON {} ({})",
                db::ident(&name),
                db::ident(&cx.table),
                db::ident(&p.column_name)
            ))?;
            let seconds = start.elapsed().as_secs_f64();
            let index_bytes: i64 = c
                .query_one("SELECT pg_relation_size($1::text::regclass)", &[&name])?
                .get(0);
            builds.push(IndexBuild {
                extension: t.ext,
                what: filter_report::BTREE.to_string(),
                build: db::BuildReport {
                    index: name,
                    seconds,
                    index_bytes,
                },
            });
        }
    }
    Ok(())
}

/// Drops the indexes this mode creates (the vector index, and with `btrees` the filter
/// columns' btrees).
fn drop_indexes(
    targets: &[Target],
    table: &str,
    columns: &[FilterColumn],
    btrees: bool,
) -> Result<()> {
    for t in targets {
        let mut c = t.config.connect(postgres::NoTls)?;
        let mut names = vec![vector_index_name(table)];
        if btrees {
            names.extend(columns.iter().map(|col| btree_name(table, &col.name)));
        }
        for n in names {
            c.batch_execute(&format!("DROP INDEX IF EXISTS {}", db::ident(&n)))?;
        }
    }
    Ok(())
}

/// Runs the filtered benchmark and returns (and writes) its results.
pub fn run(args: &Args, command: String) -> Result<(Results, PathBuf, PathBuf)> {
    let kind = match args.index {
        IndexArg::Hnsw => Some(IndexKind::Hnsw {
            m: args.m,
            ef_construction: args.ef_construction,
        }),
        IndexArg::Exact => None,
        IndexArg::Ivfflat => bail!(
            "--filter measures HNSW indexes (or, with --index exact, only exact scans); \
             --index ivfflat is not supported"
        ),
    };
    if kind.is_none() && args.no_exact {
        bail!("--index exact with --no-exact leaves nothing to measure");
    }
    let workloads = Workload::from_args(&args.filter);
    let ds = load_dataset(args)?;
    eprintln!(
        "dataset {}: {} rows × {} dims, {} queries ({})",
        ds.name,
        ds.base.len(),
        ds.base.dim,
        ds.queries.len(),
        ds.source
    );
    let start = Instant::now();
    let columns = filter::columns(&ds.base, ds.metric, args.seed);
    let points = filter::points(
        &ds.base,
        &ds.queries,
        ds.metric,
        &columns,
        &workloads,
        args.k,
        args.seed,
    );
    eprintln!(
        "filter columns, filter values and exact filtered answers in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let queries = ds.queries.len();

    let server = Server::new(&args.url)?;
    let server_info = db::server_info(&mut server.connect()?)?;
    let mut exts = vec![Extension::Ruvector];
    if args.compare == Some(CompareArg::Pgvector) {
        exts.push(Extension::Pgvector);
    }
    let table = format!("{}_filter", table_name(&ds));
    let key_names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let int_columns: Vec<IntColumn> = columns
        .iter()
        .map(|c| IntColumn {
            name: &c.name,
            values: &c.values,
        })
        .collect();
    let mut targets = Vec::new();
    let mut tables = Vec::new();
    for &ext in &exts {
        let dbname = db::database_for(&args.db_prefix, ext);
        server.ensure_database(&dbname)?;
        let mut client = server.connect_to(&dbname)?;
        let version = db::ensure_extension(&mut client, ext)?;
        let profile = kind.map(|k| {
            let p = Profile::new(ext, k).with_quantization(args.quantization.as_deref());
            if args.filter_keys {
                p.with_keys(&key_names)
            } else {
                p
            }
        });
        let t = Target {
            ext,
            config: server.config_for(&dbname),
            version,
            profile,
        };
        check_iterative_scan(&mut client, &t)?;
        let load =
            db::load_with_columns(&mut client, ext, &table, &ds, &int_columns, &progress_bar())?;
        if load.reused {
            eprintln!("{}: reusing table {table} (same data)", ext.label());
        } else {
            eprintln!(
                "{}: loaded {} rows with filter columns in {:.1} s",
                ext.label(),
                load.rows,
                load.seconds
            );
        }
        tables.push(LoadedTable {
            extension: ext,
            extension_version: t.version.clone(),
            load,
        });
        targets.push(t);
    }
    drop_indexes(&targets, &table, &columns, true)?;

    let cx = Shared {
        args,
        ds: &ds,
        table: table.clone(),
        queries,
    };
    let build_settings = BuildSettings {
        maintenance_work_mem: args.maintenance_work_mem.clone(),
        max_parallel_maintenance_workers: args.parallel_workers,
    };
    let sweep = args.sweep_values();
    let hnsw_configs = |set: ConfigSet| -> Vec<Configuration> {
        if kind.is_none() {
            return Vec::new();
        }
        sweep
            .iter()
            .flat_map(|&ef| {
                ITERATIVE_MODES.iter().map(move |m| Configuration {
                    set,
                    ef_search: Some(ef),
                    iterative_scan: Some(m.to_string()),
                })
            })
            .collect()
    };
    let exact = |set: ConfigSet| Configuration {
        set,
        ef_search: None,
        iterative_scan: None,
    };

    let mut measurements = Vec::new();
    let mut builds = Vec::new();
    if !args.no_exact {
        measure_all(
            &targets,
            &exact(ConfigSet::Plain),
            &points,
            &cx,
            &mut measurements,
        )?;
    }
    if kind.is_some() {
        build_vector_indexes(&targets, &cx, &build_settings, &mut builds)?;
        for c in hnsw_configs(ConfigSet::Plain) {
            measure_all(&targets, &c, &points, &cx, &mut measurements)?;
        }
    }
    if args.filter_btree {
        build_btrees(&targets, &cx, &points, &mut builds)?;
        for c in hnsw_configs(ConfigSet::Btree) {
            measure_all(&targets, &c, &points, &cx, &mut measurements)?;
        }
        if !args.no_exact {
            drop_indexes(&targets, &table, &columns, false)?;
            measure_all(
                &targets,
                &exact(ConfigSet::Btree),
                &points,
                &cx,
                &mut measurements,
            )?;
        }
        // Leave the table as a plain run expects it.
        drop_indexes(&targets, &table, &columns, true)?;
    }

    let best = filter_report::best_plans(&measurements, points.len(), &exts);
    let point_infos = points
        .iter()
        .map(|p| PointInfo {
            workload: p.workload,
            column: p.column_name.clone(),
            label: p.label(ds.base.len()),
            target_selectivity: p.selectivity,
            mean_selectivity: p.mean_selectivity(ds.base.len()),
            filter_values: p.values.clone(),
            matches: p.matches.clone(),
        })
        .collect();
    let filtered = FilteredResults {
        settings: FilterSettings {
            workloads,
            queries_per_point: queries,
            seed: args.seed,
            tenants: filter::TENANTS.min(ds.base.len()),
            zipf_exponent: filter::ZIPF_EXPONENT,
            kmeans_iterations: crate::kmeans::ITERATIONS,
            ef_search: if kind.is_some() {
                sweep.clone()
            } else {
                Vec::new()
            },
            iterative_scan: ITERATIVE_MODES.iter().map(|m| m.to_string()).collect(),
            filter_keys: args.filter_keys,
            filter_btree: args.filter_btree,
            rounds: args.rounds.max(1),
        },
        points: point_infos,
        tables,
        indexes: builds,
        measurements,
        best,
    };
    let results = Results {
        tool: format!("ruvector-bench {}", env!("CARGO_PKG_VERSION")),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        command,
        dataset: DatasetInfo {
            name: ds.name.clone(),
            source: ds.source.clone(),
            rows: ds.base.len(),
            dim: ds.base.dim,
            queries,
            metric: ds.metric,
            k: args.k,
        },
        machine: Machine::detect(),
        server: server_info,
        build_settings,
        clients: args.clients,
        runs: Vec::new(),
        ratios: None,
        filtered: Some(filtered),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    let mut stem = format!(
        "{}-{}-filter",
        table_name(&ds).trim_start_matches("rvbench_"),
        ds.metric.name()
    );
    if args.filter_keys {
        stem.push_str("-keys");
    }
    if args.filter_btree {
        stem.push_str("-btree");
    }
    let json = args.out.join(format!("{stem}.json"));
    let png = args.out.join(format!("{stem}.png"));
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    crate::chart::write_filter_png(&results, &png)?;
    Ok((results, json, png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_labels_and_literals() {
        let t = "rvbench_x_filter";
        assert_eq!(index_label(t, "ruhnsw", "rvbench_x_filter_idx"), "ruhnsw");
        assert_eq!(
            index_label(t, "hnsw", "rvbench_x_filter_u01_btree"),
            "btree u01"
        );
        assert_eq!(index_label(t, "hnsw", "other"), "other");
        assert_eq!(vector_literal(&[1.0, -0.25, 1e-7]), "[1,-0.25,0.0000001]");
    }
}
