//! Filtered-search workloads (`--filter`): the `int4` filter columns the tool adds to the
//! table, each query's filter value, the exact filtered top-k, and the per-query measures that
//! only make sense with a filter (fill rate). Everything here is computed by the tool from
//! `--seed`, without the server.
//!
//! | workload | columns | a row's value | a query's filter value |
//! |---|---|---|---|
//! | uniform | `u50 u10 u1 u01` | uniform over 2 / 10 / 100 / 1000 values, independent of the vector | uniform over the same values |
//! | correlated | `c50 c10 c1 c01` | its k-means cluster among 2 / 10 / 100 / 1000 ([`crate::kmeans`]) | uniform over the other non-empty clusters: never the query's own nearest cluster, so every matching row is far from the query (what defeats post-filtering an approximate search) |
//! | tenant | `tenant_id` | one of 10,000 tenants whose sizes follow Zipf's law with exponent 1 (tenant `i` holds ∝ 1/i of the rows; ids 1… by size, rows shuffled) | the tenant of a uniformly drawn row, i.e. a tenant with probability proportional to its size |

use crate::dataset::{recall, Metric, Vectors};
use crate::kmeans::KMeans;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Tenants of the `tenant` workload (fewer when the table has fewer rows: each has a row).
pub const TENANTS: usize = 10_000;
/// Exponent of the tenants' Zipf size distribution: tenant `i` (1-based) holds ∝ `i^-s` rows.
pub const ZIPF_EXPONENT: f64 = 1.0;

/// One target selectivity of the uniform and correlated workloads.
#[derive(Clone, Copy, Debug)]
pub struct Selectivity {
    /// Column name suffix: `u10`, `c01`.
    pub suffix: &'static str,
    /// Distinct values (uniform) or clusters (correlated): 1 / fraction.
    pub values: usize,
}

impl Selectivity {
    pub fn fraction(self) -> f64 {
        1.0 / self.values as f64
    }
}

/// 50%, 10%, 1%, 0.1%.
pub const SELECTIVITIES: [Selectivity; 4] = [
    Selectivity {
        suffix: "50",
        values: 2,
    },
    Selectivity {
        suffix: "10",
        values: 10,
    },
    Selectivity {
        suffix: "1",
        values: 100,
    },
    Selectivity {
        suffix: "01",
        values: 1000,
    },
];

/// A percentage as the tables print it: `50%`, `0.1%`, `0.02%`.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p >= 1.0 {
        format!("{p:.0}%")
    } else {
        let s = format!("{p:.3}");
        format!("{}%", s.trim_end_matches('0'))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    Uniform,
    Correlated,
    Tenant,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Uniform, Workload::Correlated, Workload::Tenant];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::Correlated => "correlated",
            Workload::Tenant => "tenant",
        }
    }

    /// The workloads `--filter` asks for, in a fixed order, each once.
    pub fn from_args(args: &[crate::cli::FilterArg]) -> Vec<Workload> {
        use crate::cli::FilterArg;
        Workload::ALL
            .into_iter()
            .filter(|w| {
                args.iter().any(|a| {
                    *a == FilterArg::All
                        || matches!(
                            (a, w),
                            (FilterArg::Uniform, Workload::Uniform)
                                | (FilterArg::Correlated, Workload::Correlated)
                                | (FilterArg::Tenant, Workload::Tenant)
                        )
                })
            })
            .collect()
    }
}

/// A filter column of the table.
pub struct FilterColumn {
    pub name: String,
    pub workload: Workload,
    /// The value of each row (row `i` has id `i`).
    pub values: Vec<i32>,
    /// Uniform and correlated: the target selectivity; tenant: none (it varies by tenant).
    pub selectivity: Option<Selectivity>,
    /// Correlated: the clustering, to find a query's own cluster.
    pub clusters: Option<KMeans>,
}

/// An RNG for one purpose (`tag`), derived from the run's seed, so adding a column never
/// changes the values of another.
pub fn rng_for(seed: u64, tag: &str) -> StdRng {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in tag.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    StdRng::seed_from_u64(seed ^ h)
}

/// `rows` values drawn uniformly from `0..values`.
pub fn uniform_column(rows: usize, values: usize, rng: &mut StdRng) -> Vec<i32> {
    (0..rows)
        .map(|_| rng.random_range(0..values) as i32)
        .collect()
}

/// Each row's cluster among `clusters` k-means clusters, and the clustering.
pub fn correlated_column(
    base: &Vectors,
    clusters: usize,
    metric: Metric,
    rng: &mut StdRng,
) -> (Vec<i32>, KMeans) {
    let km = KMeans::train(base, clusters, metric == Metric::Cosine, rng);
    let values = km.assign(base).into_iter().map(|c| c as i32).collect();
    (values, km)
}

/// Sizes of `tenants` tenants sharing `rows` rows by Zipf's law with `exponent`: tenant `i`
/// (1-based) gets ⌊rows · i^-s / Σ j^-s⌋ rows, at least one; the rows left by rounding go one
/// each to the largest tenants (rows taken back, if the minimum of one overshot, come off the
/// largest tenants too), so the sizes sum to `rows` and never increase.
pub fn zipf_sizes(rows: usize, tenants: usize, exponent: f64) -> Vec<usize> {
    assert!(
        tenants >= 1 && rows >= tenants,
        "{tenants} tenants over {rows} rows"
    );
    let weights: Vec<f64> = (1..=tenants).map(|i| (i as f64).powf(-exponent)).collect();
    let total: f64 = weights.iter().sum();
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| ((rows as f64 * w / total * (1.0 - 1e-12)).floor() as usize).max(1))
        .collect();
    let sum: usize = sizes.iter().sum();
    if sum < rows {
        for i in 0..rows - sum {
            sizes[i % tenants] += 1;
        }
    } else {
        for _ in 0..sum - rows {
            // The last tenant of the largest-size plateau, so the order is kept.
            let i = (0..tenants - 1)
                .find(|&i| sizes[i] > sizes[i + 1])
                .unwrap_or(tenants - 1);
            sizes[i] -= 1;
        }
    }
    sizes
}

/// Each row's tenant id (1 = the largest tenant), rows shuffled, and the tenants' sizes.
pub fn tenant_column(rows: usize, rng: &mut StdRng) -> (Vec<i32>, Vec<usize>) {
    let sizes = zipf_sizes(rows, TENANTS.min(rows), ZIPF_EXPONENT);
    let mut values: Vec<i32> = sizes
        .iter()
        .enumerate()
        .flat_map(|(t, &s)| std::iter::repeat_n(t as i32 + 1, s))
        .collect();
    values.shuffle(rng);
    (values, sizes)
}

/// All filter columns, in table order: `u50 u10 u1 u01 c50 c10 c1 c01 tenant_id`. All are
/// generated whatever `--filter` selects, so one table serves every workload (and the
/// multi-column index of `--filter-keys`).
pub fn columns(base: &Vectors, metric: Metric, seed: u64) -> Vec<FilterColumn> {
    let mut out = Vec::new();
    for s in SELECTIVITIES {
        let name = format!("u{}", s.suffix);
        let values = uniform_column(base.len(), s.values, &mut rng_for(seed, &name));
        out.push(FilterColumn {
            name,
            workload: Workload::Uniform,
            values,
            selectivity: Some(s),
            clusters: None,
        });
    }
    for s in SELECTIVITIES {
        let name = format!("c{}", s.suffix);
        let (values, km) = correlated_column(
            base,
            s.values.min(base.len()),
            metric,
            &mut rng_for(seed, &name),
        );
        out.push(FilterColumn {
            name,
            workload: Workload::Correlated,
            values,
            selectivity: Some(s),
            clusters: Some(km),
        });
    }
    let (values, _) = tenant_column(base.len(), &mut rng_for(seed, "tenant_id"));
    out.push(FilterColumn {
        name: "tenant_id".into(),
        workload: Workload::Tenant,
        values,
        selectivity: None,
        clusters: None,
    });
    out
}

/// Rows per value of a column.
pub fn postings(values: &[i32]) -> HashMap<i32, Vec<u32>> {
    let mut p: HashMap<i32, Vec<u32>> = HashMap::new();
    for (i, &v) in values.iter().enumerate() {
        p.entry(v).or_default().push(i as u32);
    }
    p
}

/// The filter value of each of `queries` for `column` (see the module table), drawn from
/// `rng`.
pub fn draw_values(column: &FilterColumn, queries: &Vectors, rng: &mut StdRng) -> Vec<i32> {
    match (column.workload, &column.clusters) {
        (Workload::Correlated, Some(km)) => {
            let mut sizes = vec![0usize; km.k()];
            for &v in &column.values {
                sizes[v as usize] += 1;
            }
            queries
                .rows()
                .map(|q| {
                    let own = km.nearest(q);
                    let others: Vec<usize> =
                        (0..km.k()).filter(|&c| c != own && sizes[c] > 0).collect();
                    // One cluster only (a tiny table): no other value exists; ask for it anyway.
                    if others.is_empty() {
                        own as i32
                    } else {
                        others[rng.random_range(0..others.len())] as i32
                    }
                })
                .collect()
        }
        (Workload::Tenant, _) => (0..queries.len())
            .map(|_| column.values[rng.random_range(0..column.values.len())])
            .collect(),
        _ => {
            let n = column.selectivity.map_or(1, |s| s.values);
            (0..queries.len())
                .map(|_| rng.random_range(0..n) as i32)
                .collect()
        }
    }
}

/// Exact filtered top-`k` by brute force (in parallel over queries): for each query, the
/// `k` rows with `column == values[q]` nearest by `metric`, nearest first, ties by row number
/// (rows whose distance is NaN, zero vectors under cosine, are left out as the indexes leave
/// them out), and how many rows match the filter.
pub fn filtered_truth(
    base: &Vectors,
    queries: &Vectors,
    metric: Metric,
    column: &[i32],
    values: &[i32],
    k: usize,
) -> (Vec<Vec<u32>>, Vec<u32>) {
    let postings = postings(column);
    let none = Vec::new();
    (0..values.len())
        .into_par_iter()
        .map(|q| {
            let rows = postings.get(&values[q]).unwrap_or(&none);
            let query = queries.row(q);
            let mut all: Vec<(f64, u32)> = rows
                .iter()
                .map(|&i| (metric.distance(query, base.row(i as usize)), i))
                .filter(|(d, _)| !d.is_nan())
                .collect();
            let k = k.min(all.len());
            if k > 0 {
                all.select_nth_unstable_by(k - 1, |a, b| a.partial_cmp(b).unwrap());
                all.truncate(k);
                all.sort_by(|a, b| a.partial_cmp(b).unwrap());
            } else {
                all.clear();
            }
            (all.into_iter().map(|(_, i)| i).collect(), rows.len() as u32)
        })
        .unzip()
}

/// One workload at one selectivity: the column, the queries' filter values and the exact
/// answers.
pub struct WorkloadPoint {
    pub workload: Workload,
    /// Index into the columns of [`columns`].
    pub column: usize,
    pub column_name: String,
    /// Uniform and correlated: the target; tenant: none.
    pub selectivity: Option<f64>,
    /// Filter value of each query.
    pub values: Vec<i32>,
    /// Rows matching each query's filter.
    pub matches: Vec<u32>,
    /// Exact filtered top-k of each query.
    pub truth: Vec<Vec<u32>>,
}

impl WorkloadPoint {
    /// `50%`, ... or, for tenants, `zipf` with the mean share of rows the queries match.
    pub fn label(&self, rows: usize) -> String {
        match self.selectivity {
            Some(s) => percent(s),
            None => format!("zipf (mean {})", percent(self.mean_selectivity(rows))),
        }
    }

    /// Mean share of the rows that match a query's filter.
    pub fn mean_selectivity(&self, rows: usize) -> f64 {
        let sum: f64 = self.matches.iter().map(|&m| m as f64).sum();
        sum / self.matches.len().max(1) as f64 / rows.max(1) as f64
    }
}

/// The points of the requested workloads, with filter values for `queries` drawn from the seed
/// and exact answers.
pub fn points(
    base: &Vectors,
    queries: &Vectors,
    metric: Metric,
    columns: &[FilterColumn],
    workloads: &[Workload],
    k: usize,
    seed: u64,
) -> Vec<WorkloadPoint> {
    columns
        .iter()
        .enumerate()
        .filter(|(_, c)| workloads.contains(&c.workload))
        .map(|(i, c)| {
            let values = draw_values(c, queries, &mut rng_for(seed, &format!("query {}", c.name)));
            let (truth, matches) = filtered_truth(base, queries, metric, &c.values, &values, k);
            WorkloadPoint {
                workload: c.workload,
                column: i,
                column_name: c.name.clone(),
                selectivity: c.selectivity.map(|s| s.fraction()),
                values,
                matches,
                truth,
            }
        })
        .collect()
}

/// Fill rate: the share of the queries that returned `k` rows among those where at least `k`
/// rows match (`None` when no query has that many matches). A query with fewer matches cannot
/// fill its LIMIT and says nothing about the index.
pub fn fill_rate(returned: &[usize], matches: &[u32], k: usize) -> Option<f64> {
    let eligible: Vec<usize> = returned
        .iter()
        .zip(matches)
        .filter(|(_, &m)| m as usize >= k)
        .map(|(&r, _)| r)
        .collect();
    if eligible.is_empty() {
        return None;
    }
    Some(eligible.iter().filter(|&&r| r >= k).count() as f64 / eligible.len() as f64)
}

/// Tenant sizes the `tenant` workload's results are broken down by: a tenant holding at least
/// this share of the rows, and the label.
pub const TENANT_SIZES: [(f64, &str); 4] = [
    (0.01, "≥ 1%"),
    (0.001, "0.1–1%"),
    (0.0001, "0.01–0.1%"),
    (0.0, "< 0.01%"),
];

/// The [`TENANT_SIZES`] class of a tenant with `matches` of `rows` rows.
pub fn tenant_size_class(matches: u32, rows: usize) -> usize {
    TENANT_SIZES
        .iter()
        .position(|&(share, _)| matches as f64 >= share * rows as f64)
        .unwrap_or(TENANT_SIZES.len() - 1)
}

/// Mean recall@k over queries, each against its filtered truth (a query with fewer than `k`
/// matches is scored against all of them; one with none scores 1).
pub fn mean_recall(results: &[&[u32]], truth: &[Vec<u32>], k: usize) -> f64 {
    let sum: f64 = results
        .iter()
        .zip(truth)
        .map(|(r, t)| recall(r, t, k))
        .sum();
    sum / results.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_vectors(rows: usize, dim: usize, seed: u64) -> Vectors {
        let mut rng = StdRng::seed_from_u64(seed);
        Vectors {
            dim,
            data: (0..rows * dim)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect(),
        }
    }

    #[test]
    fn uniform_selectivity_and_determinism() {
        let rows = 100_000;
        for s in SELECTIVITIES {
            let a = uniform_column(rows, s.values, &mut rng_for(42, "u"));
            assert_eq!(a, uniform_column(rows, s.values, &mut rng_for(42, "u")));
            assert_ne!(a, uniform_column(rows, s.values, &mut rng_for(43, "u")));
            let p = postings(&a);
            assert_eq!(p.len(), s.values, "every value occurs");
            // Each value's share within 4 standard deviations of the target.
            let f = s.fraction();
            let sd = (f * (1.0 - f) / rows as f64).sqrt();
            for rows_of in p.values() {
                let share = rows_of.len() as f64 / rows as f64;
                assert!((share - f).abs() < 4.0 * sd + 1e-9, "{share} vs {f}");
            }
        }
    }

    #[test]
    fn correlated_columns_and_filter_values() {
        // 100k rows of 4-d points; cosine (spherical) and L2 clusterings.
        let base = random_vectors(100_000, 4, 5);
        let queries = random_vectors(300, 4, 6);
        for metric in [Metric::Cosine, Metric::L2] {
            for clusters in [2, 100] {
                let (values, km) = correlated_column(&base, clusters, metric, &mut rng_for(1, "c"));
                let (again, _) = correlated_column(&base, clusters, metric, &mut rng_for(1, "c"));
                assert_eq!(values, again, "deterministic");
                let p = postings(&values);
                assert_eq!(p.len(), clusters, "no empty cluster");
                // Mean cluster size is the target by construction; no cluster is degenerate.
                let smallest = p.values().map(Vec::len).min().unwrap();
                assert!(smallest * clusters * 10 > 100_000, "{smallest}");
                let col = FilterColumn {
                    name: "c".into(),
                    workload: Workload::Correlated,
                    values,
                    selectivity: None,
                    clusters: Some(km),
                };
                let drawn = draw_values(&col, &queries, &mut rng_for(1, "q"));
                let km = col.clusters.as_ref().unwrap();
                for (q, v) in queries.rows().zip(&drawn) {
                    assert_ne!(*v as usize, km.nearest(q), "never the query's own cluster");
                    assert!((*v as usize) < clusters);
                }
                // The other clusters are spread over, not one favourite.
                if clusters == 100 {
                    assert!(drawn.iter().collect::<std::collections::HashSet<_>>().len() > 50);
                }
            }
        }
    }

    #[test]
    fn zipf_sizes_sum_and_never_increase() {
        for (rows, tenants) in [(100_000, 10_000), (10_000, 10_000), (12_345, 1000), (7, 3)] {
            let s = zipf_sizes(rows, tenants, ZIPF_EXPONENT);
            assert_eq!(s.len(), tenants);
            assert_eq!(s.iter().sum::<usize>(), rows, "{rows} {tenants}");
            assert!(s.windows(2).all(|w| w[0] >= w[1]), "monotone");
            assert!(s.iter().all(|&x| x >= 1));
        }
        // Tenant 1 holds 1/H(10000) ≈ 10.2% of 100k rows; tenant 10 a tenth of that.
        let s = zipf_sizes(100_000, 10_000, 1.0);
        let h: f64 = (1..=10_000).map(|i| 1.0 / i as f64).sum();
        assert!((s[0] as f64 - 100_000.0 / h).abs() < 2.0, "{}", s[0]);
        assert!((s[9] as f64 - 10_000.0 / h).abs() < 2.0, "{}", s[9]);
        let (values, sizes) = tenant_column(100_000, &mut rng_for(42, "t"));
        assert_eq!(sizes, s);
        let p = postings(&values);
        assert_eq!(p.len(), 10_000);
        assert_eq!(p[&1].len(), s[0]);
        assert_eq!(values, tenant_column(100_000, &mut rng_for(42, "t")).0);
        let classes: Vec<usize> = [10_218, 1000, 999, 100, 10, 9, 1]
            .iter()
            .map(|&m| tenant_size_class(m, 100_000))
            .collect();
        assert_eq!(classes, [0, 0, 1, 1, 2, 3, 3]);
    }

    #[test]
    fn tenant_queries_follow_tenant_size() {
        let (values, sizes) = tenant_column(100_000, &mut rng_for(3, "t"));
        let col = FilterColumn {
            name: "tenant_id".into(),
            workload: Workload::Tenant,
            values,
            selectivity: None,
            clusters: None,
        };
        let queries = random_vectors(20_000, 1, 1);
        let drawn = draw_values(&col, &queries, &mut rng_for(3, "q"));
        let share = drawn.iter().filter(|&&v| v == 1).count() as f64 / drawn.len() as f64;
        let want = sizes[0] as f64 / 100_000.0;
        assert!((share - want).abs() < 0.01, "{share} vs {want}");
    }

    #[test]
    fn filtered_truth_by_hand() {
        // Points on a line (L2): 0, 1, 2, 3, 4, 5 with filter values a b a b a b.
        let base = Vectors {
            dim: 1,
            data: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        };
        let column = [7, 8, 7, 8, 7, 8];
        let queries = Vectors {
            dim: 1,
            data: vec![2.2, 2.2, 0.0],
        };
        let (truth, matches) = filtered_truth(&base, &queries, Metric::L2, &column, &[7, 8, 9], 2);
        assert_eq!(
            truth[0],
            vec![2, 4],
            "rows with 7 nearest 2.2: 2.0 then 4.0 (0.0 is farther)"
        );
        assert_eq!(
            truth[1],
            vec![3, 1],
            "rows with 8 nearest 2.2: 3.0 (0.8), then 1.0 (1.2)"
        );
        assert_eq!(truth[2], Vec::<u32>::new());
        assert_eq!(matches, vec![3, 3, 0]);
        // k larger than the matching rows: all of them.
        let (truth, _) = filtered_truth(&base, &queries, Metric::L2, &column, &[8, 8, 8], 5);
        assert_eq!(truth[0], vec![3, 1, 5]);
        // Cosine uses the dataset's metric code.
        let base = Vectors {
            dim: 2,
            data: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        };
        let q = Vectors {
            dim: 2,
            data: vec![1.0, 0.1],
        };
        let (truth, _) = filtered_truth(&base, &q, Metric::Cosine, &[1, 1, 1], &[1], 3);
        assert_eq!(truth[0], vec![0, 2, 1]);
    }

    #[test]
    fn fill_rate_counts_only_fillable_queries() {
        // k = 10: queries 0 and 1 have ≥ 10 matches (one filled), query 2 has 3 matches and
        // returned 3 (not counted), query 3 has 10 and returned 10.
        let returned = [10, 4, 3, 10];
        let matches = [500, 20, 3, 10];
        assert_eq!(fill_rate(&returned, &matches, 10), Some(2.0 / 3.0));
        assert_eq!(fill_rate(&[3], &[3], 10), None);
        assert_eq!(fill_rate(&[], &[], 10), None);
        let truth = vec![vec![1, 2], vec![3, 4], vec![]];
        let r: [&[u32]; 3] = [&[1, 2], &[3, 9], &[]];
        assert!((mean_recall(&r, &truth, 2) - (1.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn points_are_deterministic() {
        let base = random_vectors(20_000, 4, 9);
        let queries = random_vectors(50, 4, 10);
        let cols = columns(&base, Metric::Cosine, 42);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "u50",
                "u10",
                "u1",
                "u01",
                "c50",
                "c10",
                "c1",
                "c01",
                "tenant_id"
            ]
        );
        let a = points(
            &base,
            &queries,
            Metric::Cosine,
            &cols,
            &Workload::ALL,
            10,
            42,
        );
        let cols2 = columns(&base, Metric::Cosine, 42);
        let b = points(
            &base,
            &queries,
            Metric::Cosine,
            &cols2,
            &Workload::ALL,
            10,
            42,
        );
        assert_eq!(a.len(), 9);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.values, y.values);
            assert_eq!(x.truth, y.truth);
            assert!(x.matches.iter().all(|&m| m > 0));
        }
        assert_eq!(percent(0.001), "0.1%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(0.0002), "0.02%");
    }
}
