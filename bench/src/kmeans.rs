//! A small k-means for the `correlated` filter columns of `--filter`: each row's column value is
//! its cluster, so the rows matching one value sit together in vector space.
//!
//! Lloyd's algorithm on a random sample of the base vectors (40 rows per centroid, at least
//! 10,000, at most all rows), started from distinct random sample rows (Forgy; k-means++ costs
//! O(rows · k) per centroid, too slow for k = 1000, and the clusters only need to be compact, not
//! optimal), [`ITERATIONS`] iterations, then every row assigned to its nearest centroid. For
//! cosine the vectors are normalised and the centroids are normalised means (spherical k-means),
//! so "nearest" is the metric's; for L2 and inner product it is Euclidean. An empty cluster is
//! re-seeded with a random sample row. Assignment runs in parallel with rayon; centroid sums are
//! accumulated in a fixed order in f64, so the result depends only on the seed.

use crate::dataset::Vectors;
use rand::rngs::StdRng;
use rand::RngExt;
use rayon::prelude::*;

/// Lloyd iterations on the sample (the assignments change little after a handful; the
/// benchmark needs compact clusters, not converged ones).
pub const ITERATIONS: usize = 6;

/// Centroids of `k` clusters.
pub struct KMeans {
    pub dim: usize,
    /// `k × dim`, row-major; unit length when `spherical`.
    pub centroids: Vec<f32>,
    pub spherical: bool,
}

/// Dot product with eight independent accumulators (so the compiler vectorises it).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    if n == 0.0 {
        v.to_vec()
    } else {
        v.iter().map(|x| x / n).collect()
    }
}

impl KMeans {
    /// Trains `k` centroids on a sample of `data` (see the module doc). `k` must be at least 1
    /// and at most the number of rows.
    pub fn train(data: &Vectors, k: usize, spherical: bool, rng: &mut StdRng) -> KMeans {
        let n = data.len();
        assert!(k >= 1 && k <= n, "k-means needs 1 <= k ({k}) <= rows ({n})");
        let dim = data.dim;
        let sample_size = (40 * k).max(10_000).min(n);
        let mut sample: Vec<usize> = rand::seq::index::sample(rng, n, sample_size).into_vec();
        sample.sort_unstable();
        let prepare = |i: usize| {
            if spherical {
                normalised(data.row(i))
            } else {
                data.row(i).to_vec()
            }
        };
        let points: Vec<Vec<f32>> = sample.par_iter().map(|&i| prepare(i)).collect();
        let mut km = KMeans {
            dim,
            centroids: rand::seq::index::sample(rng, points.len(), k)
                .into_iter()
                .flat_map(|i| points[i].clone())
                .collect(),
            spherical,
        };
        for _ in 0..ITERATIONS {
            let assignment: Vec<usize> =
                points.par_iter().map(|p| km.nearest_prepared(p)).collect();
            let mut sums = vec![0f64; k * dim];
            let mut counts = vec![0usize; k];
            for (p, &c) in points.iter().zip(&assignment) {
                counts[c] += 1;
                for (s, &x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                    *s += x as f64;
                }
            }
            for c in 0..k {
                let centroid: Vec<f32> = if counts[c] == 0 {
                    points[rng.random_range(0..points.len())].clone()
                } else {
                    sums[c * dim..(c + 1) * dim]
                        .iter()
                        .map(|s| (s / counts[c] as f64) as f32)
                        .collect()
                };
                let centroid = if spherical {
                    normalised(&centroid)
                } else {
                    centroid
                };
                km.centroids[c * dim..(c + 1) * dim].copy_from_slice(&centroid);
            }
        }
        km
    }

    pub fn k(&self) -> usize {
        self.centroids.len() / self.dim.max(1)
    }

    fn centroid(&self, c: usize) -> &[f32] {
        &self.centroids[c * self.dim..(c + 1) * self.dim]
    }

    /// The nearest centroid of an already normalised (if spherical) vector; ties go to the
    /// lower cluster number.
    fn nearest_prepared(&self, p: &[f32]) -> usize {
        let mut best = (f32::INFINITY, 0);
        for c in 0..self.k() {
            let centroid = self.centroid(c);
            // Spherical: maximise the cosine; Euclidean: minimise |c|² − 2 p·c.
            let score = if self.spherical {
                -dot(p, centroid)
            } else {
                dot(centroid, centroid) - 2.0 * dot(p, centroid)
            };
            if score < best.0 {
                best = (score, c);
            }
        }
        best.1
    }

    /// The cluster of one vector.
    pub fn nearest(&self, v: &[f32]) -> usize {
        if self.spherical {
            self.nearest_prepared(&normalised(v))
        } else {
            self.nearest_prepared(v)
        }
    }

    /// The cluster of every row, in parallel.
    pub fn assign(&self, data: &Vectors) -> Vec<usize> {
        (0..data.len())
            .into_par_iter()
            .map(|i| self.nearest(data.row(i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn separates_obvious_clusters() {
        // Two tight groups far apart: every row of a group lands in the same cluster.
        let mut data = Vec::new();
        for i in 0..20_000 {
            let base = if i % 2 == 0 { 0.0 } else { 100.0 };
            data.extend([base + (i % 7) as f32 * 0.01, base - (i % 5) as f32 * 0.01]);
        }
        let v = Vectors { dim: 2, data };
        let km = KMeans::train(&v, 2, false, &mut StdRng::seed_from_u64(1));
        let a = km.assign(&v);
        assert_ne!(a[0], a[1]);
        assert!(a.iter().step_by(2).all(|&c| c == a[0]));
        assert!(a.iter().skip(1).step_by(2).all(|&c| c == a[1]));
        assert_eq!(km.nearest(&[99.0, 101.0]), a[1]);
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..21).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..21).map(|i| 3.0 - i as f32).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }
}
