//! The results file (JSON), the console table, and ruvector/pgvector ratios.

use crate::db::{BuildReport, BuildSettings, LoadReport, ServerInfo};
use crate::sweep::Point;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub source: String,
    pub rows: usize,
    pub dim: usize,
    pub queries: usize,
    pub metric: crate::dataset::Metric,
    pub k: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
}

impl Machine {
    /// What this (client) machine is; the benchmark tool and server run on the same host in
    /// the README setup.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("{} {}", std::env::consts::OS, s.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_string());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (kib / 1048576.0 * 10.0).round() / 10.0,
            os,
        }
    }
}

/// One profile's measurements.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    pub profile: String,
    pub extension: crate::profile::Extension,
    pub extension_version: String,
    pub index: crate::profile::IndexKind,
    pub access_method: Option<String>,
    pub search_guc: Option<String>,
    pub load: LoadReport,
    pub build: Option<BuildReport>,
    pub points: Vec<Point>,
}

/// ruvector vs pgvector at the same recall (pgvector's QPS interpolated on its curve).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    pub recall: f64,
    pub ruvector_value: Option<i64>,
    pub ruvector_qps: f64,
    pub pgvector_qps: f64,
    pub qps_ratio: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ratios {
    /// ruvector build seconds / pgvector build seconds (lower is better for ruvector).
    pub build_time: Option<f64>,
    /// ruvector index bytes / pgvector index bytes.
    pub index_size: Option<f64>,
    pub at_equal_recall: Vec<Comparison>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub tool: String,
    pub created_unix: u64,
    pub command: String,
    pub dataset: DatasetInfo,
    pub machine: Machine,
    pub server: ServerInfo,
    pub build_settings: BuildSettings,
    pub clients: usize,
    pub runs: Vec<Run>,
    pub ratios: Option<Ratios>,
    /// A `--filter` run's results (its `runs` are empty); absent in sweep result files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filtered: Option<crate::filter_report::FilteredResults>,
}

/// The index runs of several result files of one dataset as one [`Results`] (for a chart
/// comparing runs made separately, such as one per quantization): the first file's header, every
/// file's index runs (exact-scan references left out), no ratios. A single `--filter` result
/// file comes back whole (to draw its chart and table again); filtered results do not merge.
pub fn merge(files: &[std::path::PathBuf]) -> anyhow::Result<Results> {
    use anyhow::{bail, Context};
    let mut merged: Option<Results> = None;
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let r: Results = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a ruvector-bench result file", f.display()))?;
        if r.filtered.is_some() {
            if files.len() > 1 {
                bail!(
                    "{} holds filtered-search results, which do not merge: give it alone",
                    f.display()
                );
            }
            return Ok(r);
        }
        let runs = r.runs.iter().filter(|run| run.build.is_some()).cloned();
        match &mut merged {
            None => {
                let mut first = r.clone();
                first.runs = runs.collect();
                first.ratios = None;
                first.command = String::new();
                merged = Some(first);
            }
            Some(m) => {
                let (a, b) = (&m.dataset, &r.dataset);
                if (a.name.as_str(), a.metric, a.k) != (b.name.as_str(), b.metric, b.k) {
                    bail!(
                        "{} measures {} {} recall@{}, not {} {} recall@{}",
                        f.display(),
                        b.name,
                        b.metric.name(),
                        b.k,
                        a.name,
                        a.metric.name(),
                        a.k
                    );
                }
                m.runs.extend(runs);
            }
        }
    }
    merged.context("no result files to merge")
}

/// QPS on a recall–QPS curve at `recall`, interpolating log(QPS) linearly between the two
/// nearest measured points; `None` outside the measured recall range.
pub fn qps_at_recall(points: &[Point], recall: f64) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = points.iter().map(|p| (p.recall, p.qps)).collect();
    pts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    for w in pts.windows(2) {
        let ((r0, q0), (r1, q1)) = (w[0], w[1]);
        if r0 <= recall && recall <= r1 {
            if recall == r0 || recall == r1 {
                return Some(if recall == r1 { q1 } else { q0 });
            }
            let t = (recall - r0) / (r1 - r0);
            return Some((q0.ln() + t * (q1.ln() - q0.ln())).exp());
        }
    }
    match pts.as_slice() {
        [(r, q)] if *r == recall => Some(*q),
        _ => None,
    }
}

/// Ratios between a ruvector run and a pgvector run of the same index kind.
pub fn compare(ruvector: &Run, pgvector: &Run) -> Ratios {
    let build_time = match (&ruvector.build, &pgvector.build) {
        (Some(a), Some(b)) if b.seconds > 0.0 => Some(a.seconds / b.seconds),
        _ => None,
    };
    let index_size = match (&ruvector.build, &pgvector.build) {
        (Some(a), Some(b)) if b.index_bytes > 0 => {
            Some(a.index_bytes as f64 / b.index_bytes as f64)
        }
        _ => None,
    };
    let at_equal_recall = ruvector
        .points
        .iter()
        .filter_map(|p| {
            let pq = qps_at_recall(&pgvector.points, p.recall)?;
            Some(Comparison {
                recall: p.recall,
                ruvector_value: p.value,
                ruvector_qps: p.qps,
                pgvector_qps: pq,
                qps_ratio: p.qps / pq,
            })
        })
        .collect();
    Ratios {
        build_time,
        index_size,
        at_equal_recall,
    }
}

pub fn mib(bytes: i64) -> f64 {
    bytes as f64 / 1048576.0
}

/// The console / README table (Markdown).
pub fn table(results: &Results) -> String {
    let mut s = String::new();
    let d = &results.dataset;
    let _ = writeln!(
        s,
        "{} ({} rows × {} dims, {} queries, {}, recall@{}), {} client(s); {} ({} cores)",
        d.name,
        d.rows,
        d.dim,
        d.queries,
        d.metric.name(),
        d.k,
        results.clients,
        results.machine.cpu,
        results.machine.cores
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "| profile | build s | index MiB | setting | recall@{} | QPS | p50 ms | p99 ms |",
        d.k
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for run in &results.runs {
        let (build, size) = match &run.build {
            Some(b) => (
                format!("{:.1}", b.seconds),
                format!("{:.1}", mib(b.index_bytes)),
            ),
            None => ("–".into(), "–".into()),
        };
        for p in &run.points {
            let setting = match (p.value, &run.search_guc) {
                (Some(v), Some(g)) => format!("{}={v}", g.rsplit('.').next().unwrap()),
                _ => "exact".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {build} | {size} | {setting} | {:.3} | {:.0} | {:.2} | {:.2} |",
                run.profile, p.recall, p.qps, p.p50_ms, p.p99_ms
            );
        }
    }
    if let Some(r) = &results.ratios {
        let _ = writeln!(s);
        if let (Some(b), Some(z)) = (r.build_time, r.index_size) {
            let _ = writeln!(
                s,
                "ruvector / pgvector: build time {b:.2}×, index size {z:.2}×"
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| recall@{} | ruvector QPS | pgvector QPS (interpolated) | ratio |",
            d.k
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|");
        for c in &r.at_equal_recall {
            let _ = writeln!(
                s,
                "| {:.3} | {:.0} | {:.0} | {:.2}× |",
                c.recall, c.ruvector_qps, c.pgvector_qps, c.qps_ratio
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(recall: f64, qps: f64) -> Point {
        Point {
            value: None,
            recall,
            qps,
            mean_ms: 0.0,
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            queries: 1,
            clients: 1,
        }
    }

    #[test]
    fn merges_result_files_of_one_dataset() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/bench");
        let quant = |f: &str| docs.join("quant").join(f);
        let m = merge(&[quant("hnsw-none.json"), quant("hnsw-sq8.json")]).unwrap();
        assert_eq!(m.dataset.name, "minilm-384-50k");
        assert_eq!(m.runs.len(), 2);
        assert!(m.runs[1].profile.contains("quantization = 'sq8'"));
        let err = merge(&[
            quant("hnsw-none.json"),
            docs.join("glove_100k-cosine-hnsw.json"),
        ])
        .unwrap_err();
        assert!(format!("{err:#}").contains("not minilm-384-50k"), "{err:#}");
        assert!(merge(&[]).is_err());
    }

    #[test]
    fn interpolates_log_qps() {
        let pts = [pt(0.9, 1000.0), pt(0.99, 100.0)];
        let mid = qps_at_recall(&pts, 0.945).unwrap();
        assert!((mid - 316.227).abs() < 0.01, "{mid}");
        assert_eq!(qps_at_recall(&pts, 0.9), Some(1000.0));
        assert_eq!(qps_at_recall(&pts, 0.5), None);
        assert_eq!(qps_at_recall(&pts, 0.999), None);
    }
}
