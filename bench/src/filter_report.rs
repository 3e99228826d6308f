//! Results of a filtered-search run (`--filter`): the JSON section (inside
//! [`crate::report::Results`], so one file format serves both modes), the best plan per
//! extension and workload point, and the console table.

use crate::db::BuildReport;
use crate::filter::{percent, Workload};
use crate::plan::PlanCount;
use crate::profile::Extension;
use crate::report::Results;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// A configuration counts for the best plan only at or above this recall.
pub const BEST_MIN_RECALL: f64 = 0.9;

/// How the filtered run was set up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FilterSettings {
    pub workloads: Vec<Workload>,
    pub queries_per_point: usize,
    pub seed: u64,
    pub tenants: usize,
    pub zipf_exponent: f64,
    pub kmeans_iterations: usize,
    /// `ef_search` values of the HNSW configurations.
    pub ef_search: Vec<i64>,
    pub iterative_scan: Vec<String>,
    /// ruvector's index had the filter columns as extra keys.
    pub filter_keys: bool,
    /// The configurations were measured again with btree indexes on the filter columns.
    pub filter_btree: bool,
    pub rounds: usize,
}

/// One workload at one selectivity: what its queries ask for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointInfo {
    pub workload: Workload,
    pub column: String,
    /// `10%`, or for tenants `zipf (mean …)`.
    pub label: String,
    pub target_selectivity: Option<f64>,
    /// Mean share of the rows matching a query's filter.
    pub mean_selectivity: f64,
    /// Filter value of each query (query `i` is the dataset's query `i`).
    pub filter_values: Vec<i32>,
    /// Rows matching each query's filter.
    pub matches: Vec<u32>,
}

/// The configuration sets: without and (with `--filter-btree`) with btree indexes on the
/// filter columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigSet {
    Plain,
    Btree,
}

/// What one measurement ran: the planner chooses the plan; no `enable_*` setting is changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    pub set: ConfigSet,
    /// `None`: no vector index exists (exact search, whatever plan the planner picks).
    pub ef_search: Option<i64>,
    /// `off`, `relaxed_order`, `strict_order` (HNSW configurations).
    pub iterative_scan: Option<String>,
}

impl Configuration {
    /// The same label for both extensions, so their rows pair up.
    pub fn label(&self) -> String {
        let base = match (self.ef_search, &self.iterative_scan) {
            (Some(ef), Some(it)) => format!("hnsw ef {ef}, iterative {it}"),
            (Some(ef), None) => format!("hnsw ef {ef}"),
            _ => "exact (no vector index)".to_string(),
        };
        match self.set {
            ConfigSet::Plain => base,
            ConfigSet::Btree => format!("{base} +btree"),
        }
    }
}

/// The table of one extension's database.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadedTable {
    pub extension: Extension,
    pub extension_version: String,
    pub load: crate::db::LoadReport,
}

/// [`IndexBuild::what`] of a filter column's btree index.
pub const BTREE: &str = "btree";

/// An index the run built.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexBuild {
    pub extension: Extension,
    /// The profile name for the vector index, [`BTREE`] for a filter column's (its name is in
    /// `build.index`).
    pub what: String,
    pub build: BuildReport,
}

/// The queries of a `tenant` point on tenants of one size class ([`crate::filter::TENANT_SIZES`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantSize {
    /// `≥ 1%`, ...: the share of the rows the tenants hold.
    pub tenants: String,
    pub queries: usize,
    pub recall: f64,
    pub fill_rate: Option<f64>,
    pub p50_ms: f64,
    pub plan: String,
}

/// One extension × configuration × workload point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub extension: Extension,
    /// The vector index's profile name; `None` when the configuration has no vector index.
    pub index: Option<String>,
    pub configuration: Configuration,
    /// Index into [`FilteredResults::points`].
    pub point: usize,
    pub workload: Workload,
    pub column: String,
    /// Mean recall@k against the exact filtered top-k.
    pub recall: f64,
    /// Share of the queries with ≥ k matching rows that returned k rows.
    pub fill_rate: Option<f64>,
    /// Queries with ≥ k matching rows (the fill rate's denominator).
    pub fillable: usize,
    pub qps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub queries: usize,
    pub clients: usize,
    /// Plan shapes of the point's queries.
    pub plans: Vec<PlanCount>,
    /// [`crate::plan::describe`] of `plans`.
    pub plan: String,
    /// `tenant` points: the same measures by tenant size (small tenants are where an index
    /// scan that filters afterwards runs dry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_tenant_size: Vec<TenantSize>,
}

/// The fastest configuration of one extension at one point with recall ≥ [`BEST_MIN_RECALL`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Best {
    pub extension: Extension,
    pub point: usize,
    /// Index into [`FilteredResults::measurements`]; `None` when no configuration reached the
    /// recall.
    pub measurement: Option<usize>,
    /// Its configuration label, or why there is none.
    pub label: String,
}

/// The filtered-search section of a results file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FilteredResults {
    pub settings: FilterSettings,
    pub points: Vec<PointInfo>,
    pub tables: Vec<LoadedTable>,
    pub indexes: Vec<IndexBuild>,
    pub measurements: Vec<Measurement>,
    pub best: Vec<Best>,
}

/// For each extension and point, the configuration with the highest QPS among those with
/// recall ≥ [`BEST_MIN_RECALL`] (every configuration of the run counts, with and without btree
/// indexes, the exact ones too).
pub fn best_plans(measurements: &[Measurement], points: usize, exts: &[Extension]) -> Vec<Best> {
    let mut out = Vec::new();
    for &ext in exts {
        for point in 0..points {
            let best = measurements
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    m.extension == ext && m.point == point && m.recall >= BEST_MIN_RECALL
                })
                .max_by(|a, b| a.1.qps.total_cmp(&b.1.qps));
            out.push(Best {
                extension: ext,
                point,
                measurement: best.map(|(i, _)| i),
                label: best.map_or_else(
                    || format!("none with recall ≥ {BEST_MIN_RECALL}"),
                    |(_, m)| m.configuration.label(),
                ),
            });
        }
    }
    out
}

fn cells(m: Option<&Measurement>) -> String {
    match m {
        None => " – | – | – | – | – |".into(),
        Some(m) => format!(
            " {:.3} | {} | {:.0} | {:.2} | {} |",
            m.recall,
            m.fill_rate.map_or("–".into(), |f| format!("{f:.2}")),
            m.qps,
            m.p99_ms,
            m.plan
        ),
    }
}

/// Recall and fill by tenant size of a `tenant` point: rows = configuration, columns = per
/// extension one `recall (fill)` per size class.
fn tenant_size_table(
    s: &mut String,
    f: &FilteredResults,
    p: usize,
    exts: &[Extension],
    labels: &[Configuration],
) {
    let of = |e: Extension, c: &Configuration| {
        f.measurements
            .iter()
            .find(|m| m.extension == e && m.point == p && m.configuration == *c)
    };
    let Some(first) = f.measurements.iter().find(|m| m.point == p) else {
        return;
    };
    if first.by_tenant_size.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nRecall (fill) by tenant size, `{}`: tenants holding {} of the rows ({} queries)\n",
        f.points[p].column,
        first
            .by_tenant_size
            .iter()
            .map(|b| b.tenants.as_str())
            .collect::<Vec<_>>()
            .join(" / "),
        first
            .by_tenant_size
            .iter()
            .map(|b| b.queries.to_string())
            .collect::<Vec<_>>()
            .join(" / ")
    );
    let mut head = "| configuration |".to_string();
    let mut rule = "|---|".to_string();
    for e in exts {
        for b in &first.by_tenant_size {
            let _ = write!(head, " {} {} |", e.label(), b.tenants);
            rule.push_str("---:|");
        }
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for c in labels {
        let _ = write!(s, "| {} |", c.label());
        for &e in exts {
            match of(e, c) {
                Some(m) => {
                    for b in &m.by_tenant_size {
                        let fill = b.fill_rate.map_or("–".into(), |f| format!("{f:.2}"));
                        let _ = write!(s, " {:.3} ({fill}) |", b.recall);
                    }
                }
                None => {
                    for _ in &first.by_tenant_size {
                        s.push_str(" – |");
                    }
                }
            }
        }
        s.push('\n');
    }
}

/// The console / README tables (Markdown): per workload, rows = selectivity × configuration,
/// columns per extension: recall, fill, QPS, p99, plan; then each extension's best plan.
pub fn table(results: &Results) -> String {
    let mut s = String::new();
    let Some(f) = &results.filtered else {
        return s;
    };
    let d = &results.dataset;
    let _ = writeln!(
        s,
        "{} ({} rows × {} dims, {}), filtered recall@{}, {} queries per point, {} client(s); {} \
         ({} cores)",
        d.name,
        d.rows,
        d.dim,
        d.metric.name(),
        d.k,
        f.settings.queries_per_point,
        results.clients,
        results.machine.cpu,
        results.machine.cores
    );
    let mut exts: Vec<Extension> = Vec::new();
    for m in &f.measurements {
        if !exts.contains(&m.extension) {
            exts.push(m.extension);
        }
    }
    let mut labels: Vec<Configuration> = Vec::new();
    for m in &f.measurements {
        if !labels.contains(&m.configuration) {
            labels.push(m.configuration.clone());
        }
    }
    for w in &f.settings.workloads {
        let pts: Vec<usize> = (0..f.points.len())
            .filter(|&i| f.points[i].workload == *w)
            .collect();
        let _ = writeln!(s);
        let _ = writeln!(s, "### {}", w.name());
        let _ = writeln!(s);
        for &p in &pts {
            let pt = &f.points[p];
            let mut m = pt.matches.clone();
            m.sort_unstable();
            let under = m.iter().filter(|&&x| (x as usize) < d.k).count();
            let _ = writeln!(
                s,
                "- `{}` ({}): rows matching a query min {} / median {} / max {}; {} of {} queries \
                 match fewer than {}",
                pt.column,
                pt.label,
                m.first().unwrap_or(&0),
                m.get(m.len() / 2).unwrap_or(&0),
                m.last().unwrap_or(&0),
                under,
                m.len(),
                d.k
            );
        }
        let _ = writeln!(s);
        let mut head = "| selectivity | configuration |".to_string();
        let mut rule = "|---|---|".to_string();
        for e in &exts {
            let l = e.label();
            let _ = write!(head, " {l} recall | fill | QPS | p99 ms | plan |");
            rule.push_str("---:|---:|---:|---:|---|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        for &p in &pts {
            let pt = &f.points[p];
            let sel = match pt.target_selectivity {
                Some(t) => percent(t),
                None => pt.label.clone(),
            };
            for (i, c) in labels.iter().enumerate() {
                let _ = write!(
                    s,
                    "| {} | {} |",
                    if i == 0 { sel.as_str() } else { "" },
                    c.label()
                );
                for &e in &exts {
                    let m = f
                        .measurements
                        .iter()
                        .find(|m| m.extension == e && m.point == p && m.configuration == *c);
                    s.push_str(&cells(m));
                }
                s.push('\n');
            }
            let _ = write!(s, "| | **best, recall ≥ {BEST_MIN_RECALL}** |");
            for &e in &exts {
                let b = f.best.iter().find(|b| b.extension == e && b.point == p);
                match b.and_then(|b| b.measurement.map(|i| (b, &f.measurements[i]))) {
                    Some((b, m)) => {
                        let _ = write!(
                            s,
                            " {:.3} | {} | **{:.0}** | {:.2} | {}: {} |",
                            m.recall,
                            m.fill_rate.map_or("–".into(), |f| format!("{f:.2}")),
                            m.qps,
                            m.p99_ms,
                            b.label,
                            m.plan
                        );
                    }
                    None => {
                        let _ = write!(s, " – | – | – | – | none |");
                    }
                }
            }
            s.push('\n');
        }
        for &p in &pts {
            tenant_size_table(&mut s, f, p, &exts, &labels);
        }
    }
    if !f.indexes.is_empty() {
        let _ = writeln!(s);
    }
    for &e in &exts {
        let (vector, btree): (Vec<&IndexBuild>, Vec<&IndexBuild>) = f
            .indexes
            .iter()
            .filter(|b| b.extension == e)
            .partition(|b| b.what != BTREE);
        for b in vector {
            let _ = writeln!(
                s,
                "- {}: built in {:.1} s, {:.1} MiB",
                b.what,
                b.build.seconds,
                crate::report::mib(b.build.index_bytes)
            );
        }
        if !btree.is_empty() {
            let _ = writeln!(
                s,
                "- {} btree indexes on {} filter columns: built in {:.1} s, {:.1} MiB in all",
                e.label(),
                btree.len(),
                btree.iter().map(|b| b.build.seconds).sum::<f64>(),
                crate::report::mib(btree.iter().map(|b| b.build.index_bytes).sum())
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ext: Extension, ef: Option<i64>, point: usize, recall: f64, qps: f64) -> Measurement {
        Measurement {
            extension: ext,
            index: None,
            configuration: Configuration {
                set: ConfigSet::Plain,
                ef_search: ef,
                iterative_scan: ef.map(|_| "off".into()),
            },
            point,
            workload: Workload::Uniform,
            column: "u10".into(),
            recall,
            fill_rate: Some(1.0),
            fillable: 1,
            qps,
            mean_ms: 1.0,
            p50_ms: 1.0,
            p95_ms: 1.0,
            p99_ms: 1.0,
            queries: 1,
            clients: 1,
            plans: Vec::new(),
            plan: "Seq Scan → Sort".into(),
            by_tenant_size: Vec::new(),
        }
    }

    #[test]
    fn best_plan_is_fastest_above_the_recall_bar() {
        let ms = vec![
            m(Extension::Pgvector, Some(40), 0, 0.5, 5000.0), // fast but wrong
            m(Extension::Pgvector, Some(80), 0, 0.92, 900.0),
            m(Extension::Pgvector, None, 0, 1.0, 100.0),
            m(Extension::Pgvector, Some(40), 1, 0.2, 4000.0),
        ];
        let best = best_plans(&ms, 2, &[Extension::Pgvector]);
        assert_eq!(best[0].measurement, Some(1));
        assert_eq!(best[0].label, "hnsw ef 80, iterative off");
        assert_eq!(best[1].measurement, None);
        assert!(best[1].label.starts_with("none"));
        let c = Configuration {
            set: ConfigSet::Btree,
            ef_search: None,
            iterative_scan: None,
        };
        assert_eq!(c.label(), "exact (no vector index) +btree");
    }
}
