//! Datasets: TEXMEX files (`base.fvecs`, `query.fvecs`, `gt_l2.ivecs`, `gt_cos.ivecs`, as in
//! `../shared/data/<name>/` and the ann-benchmarks/TEXMEX corpora) and a clustered synthetic
//! generator, each with exact ground truth.
//!
//! `.fvecs`/`.ivecs`: per vector a little-endian `i32` dimension followed by that many `f32`
//! (resp. `i32`) values (http://corpus-texmex.irisa.fr/).

use anyhow::{bail, Context, Result};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Distance the ground truth (and the index) is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    L2,
    Cosine,
    Ip,
}

impl Metric {
    pub fn parse(s: &str) -> Result<Metric> {
        Ok(match s {
            "l2" => Metric::L2,
            "cosine" => Metric::Cosine,
            "ip" => Metric::Ip,
            _ => bail!("unknown metric {s:?}: use l2, cosine or ip"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::Ip => "ip",
        }
    }

    /// The SQL operator (same in ruvector and pgvector).
    pub fn operator(self) -> &'static str {
        match self {
            Metric::L2 => "<->",
            Metric::Cosine => "<=>",
            Metric::Ip => "<#>",
        }
    }

    /// Distance in f64, ordered like the SQL operator.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        let (mut dot, mut na, mut nb, mut l2) = (0f64, 0f64, 0f64, 0f64);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (x as f64, y as f64);
            dot += x * y;
            na += x * x;
            nb += y * y;
            l2 += (x - y) * (x - y);
        }
        match self {
            Metric::L2 => l2,
            Metric::Ip => -dot,
            Metric::Cosine => {
                if na == 0.0 || nb == 0.0 {
                    f64::NAN
                } else {
                    1.0 - dot / (na.sqrt() * nb.sqrt())
                }
            }
        }
    }
}

/// Row-major f32 vectors of one dimension.
#[derive(Clone, Debug)]
pub struct Vectors {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Vectors {
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim.max(1))
    }
}

/// A dataset with exact ground truth for one metric: `truth[q]` lists base row numbers (the
/// `id` column) nearest to query `q`, nearest first.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub metric: Metric,
    pub base: Vectors,
    pub queries: Vectors,
    pub truth: Vec<Vec<u32>>,
    /// Where the data came from (a directory, or the generator's parameters).
    pub source: String,
}

fn open(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "cannot read dataset file {}: a TEXMEX dataset directory holds base.fvecs, \
             query.fvecs, gt_l2.ivecs and gt_cos.ivecs",
            path.display()
        )
    })
}

/// Reads at most `limit` vectors of an `.fvecs` file.
pub fn read_fvecs(path: &Path, limit: Option<usize>) -> Result<Vectors> {
    let bytes = open(path)?;
    let rows = parse_vecs(&bytes, limit, path)?;
    let dim = rows.first().map_or(0, |r| r.len());
    let mut data = Vec::with_capacity(rows.len() * dim);
    for r in rows {
        data.extend(r.iter().map(|b| f32::from_le_bytes(*b)));
    }
    Ok(Vectors { dim, data })
}

/// Reads an `.ivecs` file.
pub fn read_ivecs(path: &Path, limit: Option<usize>) -> Result<Vec<Vec<u32>>> {
    let bytes = open(path)?;
    let rows = parse_vecs(&bytes, limit, path)?;
    Ok(rows
        .into_iter()
        .map(|r| r.iter().map(|b| i32::from_le_bytes(*b) as u32).collect())
        .collect())
}

fn parse_vecs<'a>(
    bytes: &'a [u8],
    limit: Option<usize>,
    path: &Path,
) -> Result<Vec<&'a [[u8; 4]]>> {
    let mut rows = Vec::new();
    let mut at = 0;
    let mut dim0 = None;
    while at < bytes.len() && limit.is_none_or(|l| rows.len() < l) {
        let Some(head) = bytes.get(at..at + 4) else {
            bail!("{}: truncated at byte {at}", path.display());
        };
        let dim = i32::from_le_bytes(head.try_into().unwrap());
        if dim <= 0 || dim > 1 << 20 {
            bail!("{}: bad dimension {dim} at byte {at}", path.display());
        }
        let dim = dim as usize;
        if *dim0.get_or_insert(dim) != dim {
            bail!(
                "{}: vector {} has {dim} dimensions, the first has {}",
                path.display(),
                rows.len(),
                dim0.unwrap()
            );
        }
        let body = bytes
            .get(at + 4..at + 4 + 4 * dim)
            .with_context(|| format!("{}: truncated at vector {}", path.display(), rows.len()))?;
        rows.push(as_words(body));
        at += 4 + 4 * dim;
    }
    Ok(rows)
}

fn as_words(body: &[u8]) -> &[[u8; 4]] {
    let (chunks, rest) = body.as_chunks::<4>();
    debug_assert!(rest.is_empty());
    chunks
}

impl Dataset {
    /// Loads `dir/{base,query}.fvecs` and the ground truth for `metric`. With `rows` below the
    /// file's row count the ground truth is recomputed exactly over the first `rows` rows.
    pub fn texmex(
        dir: &Path,
        metric: Metric,
        rows: Option<usize>,
        queries: Option<usize>,
        k: usize,
    ) -> Result<Dataset> {
        let name = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dataset".into());
        let base = read_fvecs(&dir.join("base.fvecs"), rows)?;
        let q = read_fvecs(&dir.join("query.fvecs"), queries)?;
        if base.dim != q.dim {
            bail!(
                "{}: base vectors have {} dimensions but queries have {}",
                dir.display(),
                base.dim,
                q.dim
            );
        }
        let gt_file: PathBuf = dir.join(match metric {
            Metric::L2 => "gt_l2.ivecs",
            Metric::Cosine => "gt_cos.ivecs",
            Metric::Ip => "gt_ip.ivecs",
        });
        let full_rows =
            std::fs::metadata(dir.join("base.fvecs"))?.len() as usize / (4 + 4 * base.dim);
        let truth = if base.len() == full_rows && gt_file.exists() {
            let t = read_ivecs(&gt_file, Some(q.len()))?;
            if t.len() < q.len() {
                bail!(
                    "{}: ground truth for {} queries, need {}",
                    gt_file.display(),
                    t.len(),
                    q.len()
                );
            }
            if t.iter().any(|r| r.len() < k) {
                bail!(
                    "{}: fewer than k = {k} neighbours per query",
                    gt_file.display()
                );
            }
            t
        } else {
            exact_neighbours(&base, &q, metric, k.max(100))
        };
        let source = dir.display().to_string();
        Ok(Dataset {
            name,
            metric,
            base,
            queries: q,
            truth,
            source,
        })
    }

    /// `n` vectors of `dim` dimensions drawn around `clusters` random centres (Gaussian, σ 1 per
    /// dimension around centres drawn with σ 4), `nq` queries from the same mixture, and exact
    /// ground truth. Deterministic for a given seed.
    pub fn synthetic(
        n: usize,
        dim: usize,
        nq: usize,
        clusters: usize,
        metric: Metric,
        seed: u64,
        k: usize,
    ) -> Result<Dataset> {
        if n == 0 || dim == 0 || nq == 0 || clusters == 0 {
            bail!("a synthetic dataset needs rows, dimensions, queries and clusters > 0");
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let spread = Normal::new(0.0f32, 4.0).unwrap();
        let noise = Normal::new(0.0f32, 1.0).unwrap();
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dim).map(|_| spread.sample(&mut rng)).collect())
            .collect();
        let mut draw = |count: usize| {
            let mut data = Vec::with_capacity(count * dim);
            for _ in 0..count {
                let c = &centres[rng.random_range(0..clusters)];
                data.extend(c.iter().map(|&x| x + noise.sample(&mut rng)));
            }
            Vectors { dim, data }
        };
        let base = draw(n);
        let queries = draw(nq);
        let truth = exact_neighbours(&base, &queries, metric, k);
        Ok(Dataset {
            name: format!("synthetic-{n}x{dim}"),
            metric,
            base,
            queries,
            truth,
            source: format!("synthetic n={n} dim={dim} clusters={clusters} seed={seed}"),
        })
    }
}

/// Exact top-`k` by brute force in f64 (ties by smaller row number), in parallel.
pub fn exact_neighbours(
    base: &Vectors,
    queries: &Vectors,
    metric: Metric,
    k: usize,
) -> Vec<Vec<u32>> {
    let k = k.min(base.len());
    (0..queries.len())
        .into_par_iter()
        .map(|q| {
            let query = queries.row(q);
            let mut all: Vec<(f64, u32)> = base
                .rows()
                .enumerate()
                .map(|(i, r)| (metric.distance(query, r), i as u32))
                .filter(|(d, _)| !d.is_nan())
                .collect();
            let k = k.min(all.len());
            if k == 0 {
                return Vec::new();
            }
            all.select_nth_unstable_by(k - 1, |a, b| a.partial_cmp(b).unwrap());
            all.truncate(k);
            all.sort_by(|a, b| a.partial_cmp(b).unwrap());
            all.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

/// Recall@k of one result list against the ground truth (set intersection over the first k).
pub fn recall(result: &[u32], truth: &[u32], k: usize) -> f64 {
    let truth = &truth[..k.min(truth.len())];
    if truth.is_empty() {
        return 1.0;
    }
    let hits = result
        .iter()
        .take(k)
        .filter(|id| truth.contains(id))
        .count();
    hits as f64 / truth.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fvecs_round_trip() {
        let dir = std::env::temp_dir().join(format!("rvbench-fvecs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.fvecs");
        let mut bytes = Vec::new();
        for row in [[1.0f32, 2.0], [3.0, -4.5]] {
            bytes.extend(2i32.to_le_bytes());
            for x in row {
                bytes.extend(x.to_le_bytes());
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let v = read_fvecs(&path, None).unwrap();
        assert_eq!((v.dim, v.len()), (2, 2));
        assert_eq!(v.row(1), &[3.0, -4.5]);
        assert_eq!(read_fvecs(&path, Some(1)).unwrap().len(), 1);
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = read_fvecs(&path, None).unwrap_err().to_string();
        assert!(err.contains("truncated at vector 1"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_says_what_is_expected() {
        let err = read_fvecs(Path::new("/nonexistent/base.fvecs"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("TEXMEX"), "{err}");
    }

    #[test]
    fn synthetic_truth_is_exact() {
        let d = Dataset::synthetic(500, 8, 20, 5, Metric::L2, 7, 10).unwrap();
        for (q, t) in d.truth.iter().enumerate() {
            let query = d.queries.row(q);
            let mut all: Vec<(f64, u32)> = (0..500)
                .map(|i| (Metric::L2.distance(query, d.base.row(i)), i as u32))
                .collect();
            all.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let want: Vec<u32> = all[..10].iter().map(|x| x.1).collect();
            assert_eq!(t, &want);
            assert_eq!(recall(&want, t, 10), 1.0);
        }
        assert_eq!(recall(&[1, 2, 3], &[3, 4, 5], 3), 1.0 / 3.0);
    }
}
