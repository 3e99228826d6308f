//! PURE: product quantization (Jégou, Douze & Schmid, TPAMI 2011). A `dims`-dimensional vector
//! is cut into `M` sub-vectors of `dims/M` dimensions; each sub-space has 256 centroids trained
//! by k-means on the sample's sub-vectors (`src/ivf/kmeans.rs`), and a vector's code is the
//! index of the nearest centroid in each sub-space: `M` bytes.
//!
//! Asymmetric distance computation (§3.1 of the paper): for a query, a table of its distance
//! to every centroid of every sub-space (M × 256 floats) is computed once; the estimate for a
//! code is then the sum of `M` table entries. Squared L2, negative dot product and L1 all add up
//! over sub-spaces, so the estimate is the exact distance to the decoded vector.

use super::Op;
use crate::ivf::kmeans::{Geometry, KMeans, SplitMix};

/// Centroids per sub-space (codes are one byte).
pub const CENTROIDS: usize = 256;

/// Most training points per sub-space (k-means cost grows with them; 40 per centroid is
/// plenty for 256 centroids, cf. the paper's and FAISS's practice).
pub const TRAINING_POINTS: usize = 40 * CENTROIDS;

#[derive(Clone, Debug, PartialEq)]
pub struct Pq {
    dims: usize,
    m: usize,
    /// [sub-space][centroid][dims / m]
    centroids: Vec<f32>,
}

pub struct PqQuery {
    table: Vec<f32>,
}

impl Pq {
    pub fn train(
        dims: usize,
        m: usize,
        sample: &[f32],
        pool: Option<&rayon::ThreadPool>,
        progress: &mut dyn FnMut(),
    ) -> Pq {
        assert!(
            m > 0 && dims.is_multiple_of(m),
            "sub-spaces must divide the dimensions"
        );
        let sub = dims / m;
        let n = (sample.len() / dims.max(1)).min(TRAINING_POINTS);
        let mut centroids = Vec::with_capacity(m * CENTROIDS * sub);
        let mut points = Vec::with_capacity(n * sub);
        for s in 0..m {
            progress();
            if n == 0 {
                // No data: centroids spread over unit-scale values.
                let mut rng = SplitMix::new(0x5151 + s as u64);
                let scale = 1.0 / (dims as f64).sqrt();
                centroids.extend(
                    (0..CENTROIDS * sub).map(|_| ((rng.next_f64() * 2.0 - 1.0) * scale) as f32),
                );
                continue;
            }
            points.clear();
            for p in sample.chunks_exact(dims).take(n) {
                points.extend_from_slice(&p[s * sub..(s + 1) * sub]);
            }
            let c = KMeans {
                data: &points,
                dims: sub,
                k: CENTROIDS,
                geometry: Geometry::Euclidean,
                max_iterations: 15,
                seed: 0x5151 + s as u64,
                pool,
            }
            .run(progress);
            centroids.extend_from_slice(&c);
        }
        Pq { dims, m, centroids }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn subspaces(&self) -> usize {
        self.m
    }

    fn sub(&self) -> usize {
        self.dims / self.m
    }

    fn centroid(&self, s: usize, j: usize) -> &[f32] {
        let sub = self.sub();
        let at = (s * CENTROIDS + j) * sub;
        &self.centroids[at..at + sub]
    }

    /// Bytes of the centroids.
    pub fn memory(&self) -> usize {
        self.centroids.len() * 4
    }

    pub fn floats(&self) -> Vec<f32> {
        self.centroids.clone()
    }

    pub fn from_floats(dims: usize, m: usize, f: Vec<f32>) -> Option<Pq> {
        (m > 0
            && dims.is_multiple_of(m)
            && f.len() == dims * CENTROIDS
            && f.iter().all(|x| x.is_finite()))
        .then_some(Pq {
            dims,
            m,
            centroids: f,
        })
    }

    pub fn encode(&self, x: &[f32]) -> Vec<u8> {
        let sub = self.sub();
        let l2 = crate::kernels::kernels().l2_squared_f32;
        (0..self.m)
            .map(|s| {
                let v = &x[s * sub..(s + 1) * sub];
                let mut best = (f32::INFINITY, 0usize);
                for j in 0..CENTROIDS {
                    let d = l2(v, self.centroid(s, j));
                    if d < best.0 {
                        best = (d, j);
                    }
                }
                best.1 as u8
            })
            .collect()
    }

    pub fn decode(&self, code: &[u8]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.dims);
        for (s, c) in code.iter().enumerate() {
            out.extend_from_slice(self.centroid(s, *c as usize));
        }
        out
    }

    pub fn prepare(&self, q: &[f32], op: Op) -> PqQuery {
        let sub = self.sub();
        let k = crate::kernels::kernels();
        let mut table = Vec::with_capacity(self.m * CENTROIDS);
        for s in 0..self.m {
            let v = &q[s * sub..(s + 1) * sub];
            for j in 0..CENTROIDS {
                let c = self.centroid(s, j);
                table.push(match op {
                    Op::L2 => (k.l2_squared_f32)(v, c),
                    Op::NegDot => -(k.dot_f32)(v, c),
                    Op::L1 => (k.l1_f32)(v, c),
                });
            }
        }
        PqQuery { table }
    }
}

impl PqQuery {
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        // Four running sums: independent adds overlap in the pipeline.
        let mut acc = [0f32; 4];
        let mut chunks = code.chunks_exact(4);
        let mut base = 0;
        for c in &mut chunks {
            for j in 0..4 {
                acc[j] += self.table[base + j * CENTROIDS + c[j] as usize];
            }
            base += 4 * CENTROIDS;
        }
        for (j, c) in chunks.remainder().iter().enumerate() {
            acc[j] += self.table[base + j * CENTROIDS + *c as usize];
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    pub fn memory(&self) -> usize {
        4 * self.table.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clustered(dims: usize, n: usize, seed: u64) -> Vec<f32> {
        let mut r = SplitMix::new(seed);
        (0..dims * n)
            .map(|_| r.next_f64() as f32 * 2.0 - 1.0)
            .collect()
    }

    #[test]
    fn encoding_picks_the_nearest_centroid_per_subspace() {
        let (dims, m) = (12, 3);
        let data = clustered(dims, 600, 1);
        let pq = Pq::train(dims, m, &data, None, &mut || {});
        for p in data.chunks_exact(dims).take(50) {
            let code = pq.encode(p);
            for s in 0..m {
                let v = &p[s * 4..s * 4 + 4];
                let chosen = Op::L2.exact(v, pq.centroid(s, code[s] as usize));
                for j in 0..CENTROIDS {
                    assert!(chosen <= Op::L2.exact(v, pq.centroid(s, j)) + 1e-5);
                }
            }
        }
    }

    #[test]
    fn fewer_points_than_centroids_reconstruct_exactly() {
        let data = clustered(8, 100, 2);
        let pq = Pq::train(8, 2, &data, None, &mut || {});
        for p in data.chunks_exact(8) {
            let d = pq.decode(&pq.encode(p));
            assert!(Op::L2.exact(p, &d) < 1e-9, "points are their own centroids");
        }
    }

    proptest! {
        /// The table estimate equals the exact distance from the query to the decoded vector.
        #[test]
        fn adc_is_exact_on_decoded_vectors(seed in 0u64..1000, query in prop::collection::vec(-1.0f32..1.0, 16)) {
            let data = clustered(16, 300, seed);
            let pq = Pq::train(16, 4, &data, None, &mut || {});
            for op in [Op::L2, Op::NegDot, Op::L1] {
                let pqq = pq.prepare(&query, op);
                for p in data.chunks_exact(16).take(20) {
                    let code = pq.encode(p);
                    let est = pqq.distance(&code);
                    let on_decoded = op.exact(&query, &pq.decode(&code));
                    prop_assert!((est - on_decoded).abs() <= 1e-4 * (1.0 + on_decoded.abs()));
                }
            }
        }
    }
}
