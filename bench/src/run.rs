//! One benchmark run: load, exact reference, build, sweep (alternating between extensions so
//! both see the same machine noise), then results.

use crate::cli::{Args, CompareArg, IndexArg, MetricArg};
use crate::dataset::{Dataset, Metric};
use crate::db::{self, BuildSettings, Server};
use crate::profile::{Extension, IndexKind, Profile};
use crate::report::{self, DatasetInfo, Machine, Results, Run};
use crate::sweep::{Measure, Point};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

pub(crate) fn progress_bar() -> ProgressBar {
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap()
            .progress_chars("=> "),
    );
    pb
}

pub fn load_dataset(args: &Args) -> Result<Dataset> {
    let metric = match args.metric {
        MetricArg::L2 => Metric::L2,
        MetricArg::Cosine => Metric::Cosine,
        MetricArg::Ip => Metric::Ip,
    };
    if args.k == 0 {
        bail!("-k must be at least 1");
    }
    match &args.synthetic {
        Some(spec) => {
            let parts: Vec<&str> = spec.split(',').collect();
            let parse = |s: &str| -> Result<usize> {
                s.trim()
                    .parse()
                    .with_context(|| format!("--synthetic expects ROWS,DIMS, got {spec:?}"))
            };
            let [rows, dims] = parts.as_slice() else {
                bail!("--synthetic expects ROWS,DIMS, got {spec:?}");
            };
            Dataset::synthetic(
                parse(rows)?,
                parse(dims)?,
                args.query_count(),
                args.clusters,
                metric,
                args.seed,
                args.k,
            )
        }
        None => Dataset::texmex(
            &args.dataset,
            metric,
            args.rows,
            Some(args.query_count()),
            args.k,
        ),
    }
}

pub(crate) fn table_name(ds: &Dataset) -> String {
    let clean: String = ds
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("rvbench_{clean}")
}

struct Target {
    ext: Extension,
    config: postgres::Config,
    version: String,
    load: db::LoadReport,
}

/// Runs the benchmark — the sweep, or with `--filter` the filtered one
/// ([`crate::filter_run::run`]) — and returns (and writes) its results.
pub fn run(args: &Args, command: String) -> Result<(Results, PathBuf, PathBuf)> {
    if args.filtered() {
        return crate::filter_run::run(args, command);
    }
    let ds = load_dataset(args)?;
    eprintln!(
        "dataset {}: {} rows × {} dims, {} queries ({})",
        ds.name,
        ds.base.len(),
        ds.base.dim,
        ds.queries.len(),
        ds.source
    );
    let server = Server::new(&args.url)?;
    let mut admin = server.connect()?;
    let server_info = db::server_info(&mut admin)?;
    drop(admin);

    let mut exts = vec![Extension::Ruvector];
    if args.compare == Some(CompareArg::Pgvector) {
        exts.push(Extension::Pgvector);
    }
    let table = table_name(&ds);
    let mut targets = Vec::new();
    for &ext in &exts {
        let dbname = db::database_for(&args.db_prefix, ext);
        server.ensure_database(&dbname)?;
        let mut client = server.connect_to(&dbname)?;
        let version = db::ensure_extension(&mut client, ext)?;
        let load = db::load(&mut client, ext, &table, &ds, &progress_bar())?;
        if load.reused {
            eprintln!("{}: reusing table {table} (same data)", ext.label());
        } else {
            eprintln!(
                "{}: loaded {} rows in {:.1} s",
                ext.label(),
                load.rows,
                load.seconds
            );
        }
        targets.push(Target {
            ext,
            config: server.config_for(&dbname),
            version,
            load,
        });
    }

    let mut runs = Vec::new();
    let measure = |t: &Target, setup: Vec<String>, index: Option<String>, queries: usize| Measure {
        config: t.config.clone(),
        setup,
        sql: Profile::new(t.ext, IndexKind::Exact).query_sql(&table, ds.metric, args.k),
        dataset: &ds,
        queries,
        k: args.k,
        clients: args.clients,
        index,
    };

    // The exact reference, before any index exists.
    if !args.no_exact || args.index == IndexArg::Exact {
        for t in &targets {
            let mut c = t.config.connect(postgres::NoTls)?;
            c.batch_execute(&format!(
                "DROP INDEX IF EXISTS {}",
                db::ident(&format!("{table}_idx"))
            ))?;
            let m = measure(t, Vec::new(), None, args.exact_queries);
            m.check_plan()?;
            m.warm_up(2)?;
            let pb = progress_bar();
            pb.set_message(format!("{} exact scan", t.ext.label()));
            let p = m.run(None, &pb)?;
            eprintln!(
                "{} exact scan: recall {:.4}, {:.1} QPS",
                t.ext.label(),
                p.recall,
                p.qps
            );
            let profile = Profile::new(t.ext, IndexKind::Exact);
            runs.push(Run {
                profile: profile.name(),
                extension: t.ext,
                extension_version: t.version.clone(),
                index: IndexKind::Exact,
                access_method: None,
                search_guc: None,
                load: t.load.clone(),
                build: None,
                points: vec![p],
            });
        }
    }

    let kind = match args.index {
        IndexArg::Hnsw => Some(IndexKind::Hnsw {
            m: args.m,
            ef_construction: args.ef_construction,
        }),
        IndexArg::Ivfflat => Some(IndexKind::Ivfflat { lists: args.lists }),
        IndexArg::Exact => None,
    };
    let build_settings = BuildSettings {
        maintenance_work_mem: args.maintenance_work_mem.clone(),
        max_parallel_maintenance_workers: args.parallel_workers,
    };
    let mut ratios = None;
    if let Some(kind) = kind {
        let profiles: Vec<Profile> = targets
            .iter()
            .map(|t| {
                Profile::new(t.ext, kind)
                    .with_quantization(args.quantization.as_deref())
                    .with_sketches(args.sketches)
            })
            .collect();
        let mut builds = Vec::new();
        for (t, p) in targets.iter().zip(&profiles) {
            eprintln!("{}: building {}", t.ext.label(), p.name());
            let mut c = t.config.connect(postgres::NoTls)?;
            let b = db::build_index(&mut c, p, &table, &ds, &build_settings)?.unwrap();
            eprintln!(
                "{}: built in {:.1} s, {:.1} MiB",
                t.ext.label(),
                b.seconds,
                report::mib(b.index_bytes)
            );
            builds.push(b);
        }
        let mut points: Vec<Vec<Point>> = vec![Vec::new(); targets.len()];
        for (vi, &value) in args.sweep_values().iter().enumerate() {
            let mut rounds: Vec<Vec<Point>> = vec![Vec::new(); targets.len()];
            for round in 0..args.rounds.max(1) {
                // Alternate which extension goes first.
                let mut order: Vec<usize> = (0..targets.len()).collect();
                if (vi + round) % 2 == 1 {
                    order.reverse();
                }
                for i in order {
                    let (t, p) = (&targets[i], &profiles[i]);
                    let guc = p.search_guc().unwrap();
                    let m = measure(
                        t,
                        // The index is what is measured: on small sets the planner would
                        // rather sort a sequential scan.
                        vec![
                            format!("SET {guc} = {value}"),
                            "SET enable_seqscan = off".to_string(),
                        ],
                        Some(builds[i].index.clone()),
                        args.query_count(),
                    );
                    m.check_plan()?;
                    if vi == 0 && round == 0 {
                        m.warm_up(args.query_count())?;
                    }
                    let pb = progress_bar();
                    pb.set_message(format!("{} {guc}={value}", t.ext.label()));
                    let pt = m.run(Some(value), &pb)?;
                    eprintln!(
                        "{} {guc}={value}: recall {:.4}, {:.0} QPS, p99 {:.2} ms",
                        t.ext.label(),
                        pt.recall,
                        pt.qps,
                        pt.p99_ms
                    );
                    rounds[i].push(pt);
                }
            }
            for (i, mut r) in rounds.into_iter().enumerate() {
                r.sort_by(|a, b| a.qps.partial_cmp(&b.qps).unwrap());
                points[i].push(r[r.len() / 2].clone());
            }
        }
        let first_index_run = runs.len();
        for ((t, p), (b, pts)) in targets
            .iter()
            .zip(profiles)
            .zip(builds.into_iter().zip(points))
        {
            runs.push(Run {
                profile: p.name(),
                extension: t.ext,
                extension_version: t.version.clone(),
                index: kind,
                access_method: p.access_method().map(String::from),
                search_guc: p.search_guc().map(String::from),
                load: t.load.clone(),
                build: Some(b),
                points: pts,
            });
        }
        if targets.len() == 2 {
            ratios = Some(report::compare(
                &runs[first_index_run],
                &runs[first_index_run + 1],
            ));
        }
    }

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
            queries: ds.queries.len(),
            metric: ds.metric,
            k: args.k,
        },
        machine: Machine::detect(),
        server: server_info,
        build_settings,
        clients: args.clients,
        runs,
        ratios,
        filtered: None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    // Runs with several clients get their own files (`-c2`): a one-client run's stays.
    let stem = format!(
        "{}-{}-{}{}",
        table.trim_start_matches("rvbench_"),
        ds.metric.name(),
        match args.index {
            IndexArg::Hnsw => "hnsw",
            IndexArg::Ivfflat => "ivfflat",
            IndexArg::Exact => "exact",
        },
        if args.clients > 1 {
            format!("-c{}", args.clients)
        } else {
            String::new()
        }
    );
    let json = args.out.join(format!("{stem}.json"));
    let png = args.out.join(format!("{stem}.png"));
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    crate::chart::write_png(&results, &png)?;
    Ok((results, json, png))
}
