//! k-means for IVF list centres (PURE: no pgrx, Rust-owned memory only).
//!
//! * Initialisation: k-means++ (Arthur & Vassilvitskii, "k-means++: The Advantages of Careful
//!   Seeding", SODA 2007): each next centre is drawn with probability proportional to its squared
//!   distance to the nearest centre chosen so far.
//! * Iterations: Lloyd's algorithm; the assignment step (the cost: points × centres × dims) runs
//!   in parallel over the points with rayon, through the SIMD kernels.
//! * Spherical k-means (Dhillon & Modha, "Concept Decompositions for Large Sparse Text Data
//!   using Clustering", 2001) for cosine and inner product: points are unit vectors, a point goes
//!   to the centre with the largest dot product and centres are renormalised means — what the
//!   index then ranks lists by.
//! * An empty cluster is re-seeded with the point farthest from its own centre, so every list
//!   gets rows.

use crate::kernels::kernels;
use rayon::prelude::*;

/// The geometry k-means works in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Geometry {
    /// Squared Euclidean distance, centres are means.
    Euclidean,
    /// Unit vectors, similarity is the dot product, centres are normalised means.
    Spherical,
}

/// A k-means problem: `data` holds `n` points of `dims` floats each, row-major.
pub struct KMeans<'a> {
    pub data: &'a [f32],
    pub dims: usize,
    pub k: usize,
    pub geometry: Geometry,
    pub max_iterations: usize,
    pub seed: u64,
    /// Where the parallel steps run (rayon's global pool when `None`).
    pub pool: Option<&'a rayon::ThreadPool>,
}

/// A small deterministic generator (SplitMix64, Steele et al. 2014) so builds are repeatable.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Reservoir sampling (Vitter's Algorithm R): a uniform sample of up to `capacity` items from a
/// stream of unknown length.
pub struct Reservoir<T> {
    pub items: Vec<T>,
    capacity: usize,
    seen: u64,
    rng: SplitMix,
}

impl<T> Reservoir<T> {
    pub fn new(capacity: usize, seed: u64) -> Reservoir<T> {
        Reservoir {
            items: Vec::with_capacity(capacity.min(1 << 20)),
            capacity,
            seen: 0,
            rng: SplitMix::new(seed),
        }
    }

    /// Offers the next item of the stream; `make` is called only if it is kept.
    /// How many items it keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn offer(&mut self, make: impl FnOnce() -> T) {
        self.seen += 1;
        if self.items.len() < self.capacity {
            self.items.push(make());
        } else {
            let j = self.rng.below(self.seen);
            if (j as usize) < self.capacity {
                self.items[j as usize] = make();
            }
        }
    }

    pub fn seen(&self) -> u64 {
        self.seen
    }
}

/// Normalises a vector to unit length in place (zero vectors are left alone).
pub fn normalize(v: &mut [f32]) {
    let n = v
        .iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x = (*x as f64 / n) as f32);
    }
}

impl KMeans<'_> {
    /// Runs `f` (which uses rayon) on the configured pool.
    fn par<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    fn n(&self) -> usize {
        self.data.len() / self.dims.max(1)
    }

    fn point(&self, i: usize) -> &[f32] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }

    /// A dissimilarity that is smaller for closer points (squared L2, or 1 − dot for unit
    /// vectors, which is half their squared L2 distance).
    fn dissimilarity(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.geometry {
            Geometry::Euclidean => (kernels().l2_squared_f32)(a, b),
            Geometry::Spherical => (1.0 - (kernels().dot_f32)(a, b)).max(0.0),
        }
    }

    /// Nearest centre of every point, and the dissimilarity to it.
    fn assign(&self, centres: &[f32]) -> Vec<(u32, f32)> {
        let k = centres.len() / self.dims;
        self.par(|| self.assign_unpooled(centres, k))
    }

    fn assign_unpooled(&self, centres: &[f32], k: usize) -> Vec<(u32, f32)> {
        (0..self.n())
            .into_par_iter()
            .with_min_len(64)
            .map(|i| {
                let p = self.point(i);
                let mut best = (0u32, f32::INFINITY);
                for c in 0..k {
                    let d = self.dissimilarity(p, &centres[c * self.dims..(c + 1) * self.dims]);
                    if d < best.1 {
                        best = (c as u32, d);
                    }
                }
                best
            })
            .collect()
    }

    /// k-means++ seeding.
    fn seed_centres(&self, rng: &mut SplitMix, progress: &mut dyn FnMut()) -> Vec<f32> {
        let (n, d) = (self.n(), self.dims);
        let mut centres = Vec::with_capacity(self.k * d);
        let first = rng.below(n as u64) as usize;
        centres.extend_from_slice(self.point(first));
        let mut nearest: Vec<f32> = self.par(|| {
            (0..n)
                .into_par_iter()
                .with_min_len(256)
                .map(|i| self.dissimilarity(self.point(i), self.point(first)))
                .collect()
        });
        for c in 1..self.k {
            if c % 16 == 0 {
                progress();
            }
            let total: f64 = nearest.iter().map(|x| *x as f64).sum();
            let chosen = if total > 0.0 {
                let mut target = rng.next_f64() * total;
                let mut pick = n - 1;
                for (i, x) in nearest.iter().enumerate() {
                    target -= *x as f64;
                    if target < 0.0 {
                        pick = i;
                        break;
                    }
                }
                pick
            } else {
                // Fewer distinct points than centres: repeat one (its list stays empty).
                rng.below(n as u64) as usize
            };
            let start = centres.len();
            centres.extend_from_slice(self.point(chosen));
            let centre = &centres[start..start + d];
            self.par(|| {
                nearest
                    .par_iter_mut()
                    .with_min_len(256)
                    .enumerate()
                    .for_each(|(i, best)| {
                        let dist = self.dissimilarity(self.point(i), centre);
                        if dist < *best {
                            *best = dist;
                        }
                    })
            });
        }
        centres
    }

    /// Runs k-means and returns `k` centres (row-major). `progress` is called on the calling
    /// thread between steps (the index build checks for interrupts there). With fewer points
    /// than `k`, points are repeated as centres.
    pub fn run(&self, progress: &mut dyn FnMut()) -> Vec<f32> {
        let (n, d, k) = (self.n(), self.dims, self.k);
        assert!(n > 0 && d > 0 && k > 0, "k-means needs points and centres");
        let mut rng = SplitMix::new(self.seed);
        let mut centres = self.seed_centres(&mut rng, progress);
        let mut previous: Vec<u32> = Vec::new();
        for _ in 0..self.max_iterations {
            progress();
            let assignment = self.assign(&centres);
            let changed = if previous.is_empty() {
                n
            } else {
                assignment
                    .iter()
                    .zip(&previous)
                    .filter(|(a, p)| a.0 != **p)
                    .count()
            };
            previous = assignment.iter().map(|a| a.0).collect();
            centres = self.update(&assignment);
            // Converged when fewer than 1 in 1000 points change list.
            if changed * 1000 < n {
                break;
            }
        }
        centres
    }

    /// New centres from an assignment (means; normalised for spherical); empty clusters take
    /// the points farthest from their centres.
    fn update(&self, assignment: &[(u32, f32)]) -> Vec<f32> {
        let (d, k) = (self.dims, self.k);
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, (c, _)) in assignment.iter().enumerate() {
            let c = *c as usize;
            counts[c] += 1;
            for (s, x) in sums[c * d..(c + 1) * d].iter_mut().zip(self.point(i)) {
                *s += *x as f64;
            }
        }
        let mut centres = vec![0f32; k * d];
        let mut far: Vec<usize> = (0..assignment.len()).collect();
        far.sort_unstable_by(|a, b| assignment[*b].1.total_cmp(&assignment[*a].1));
        let mut far = far.into_iter();
        for c in 0..k {
            let out = &mut centres[c * d..(c + 1) * d];
            if counts[c] == 0 {
                match far.next() {
                    Some(p) => out.copy_from_slice(self.point(p)),
                    None => out.copy_from_slice(self.point(c % assignment.len())),
                }
                continue;
            }
            for (o, s) in out.iter_mut().zip(&sums[c * d..(c + 1) * d]) {
                *o = (*s / counts[c] as f64) as f32;
            }
            if self.geometry == Geometry::Spherical {
                normalize(out);
            }
        }
        centres
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(rng: &mut SplitMix, centres: &[[f32; 2]], per: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for c in centres {
            for _ in 0..per {
                out.push(c[0] + (rng.next_f64() as f32 - 0.5) * 0.2);
                out.push(c[1] + (rng.next_f64() as f32 - 0.5) * 0.2);
            }
        }
        out
    }

    #[test]
    fn finds_separated_blobs() {
        let truth = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
        let data = blobs(&mut SplitMix::new(7), &truth, 200);
        let km = KMeans {
            data: &data,
            dims: 2,
            k: 4,
            geometry: Geometry::Euclidean,
            max_iterations: 50,
            seed: 1,
            pool: None,
        };
        let centres = km.run(&mut || {});
        for t in truth {
            let best = centres
                .chunks(2)
                .map(|c| (c[0] - t[0]).powi(2) + (c[1] - t[1]).powi(2))
                .fold(f32::INFINITY, f32::min);
            assert!(best < 0.01, "no centre near {t:?}: {centres:?}");
        }
    }

    #[test]
    fn spherical_centres_are_unit_vectors_and_lists_are_not_empty() {
        let mut rng = SplitMix::new(3);
        let mut data: Vec<f32> = (0..3000).map(|_| rng.next_f64() as f32 - 0.5).collect();
        data.chunks_mut(3).for_each(normalize);
        let km = KMeans {
            data: &data,
            dims: 3,
            k: 20,
            geometry: Geometry::Spherical,
            max_iterations: 20,
            seed: 9,
            pool: None,
        };
        let centres = km.run(&mut || {});
        for c in centres.chunks(3) {
            let n: f32 = c.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4, "norm² {n}");
        }
        let mut counts = [0usize; 20];
        for (c, _) in km.assign(&centres) {
            counts[c as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c > 0), "{counts:?}");
    }

    #[test]
    fn fewer_points_than_centres() {
        let data = vec![1.0f32, 2.0, 3.0, 4.0];
        let km = KMeans {
            data: &data,
            dims: 2,
            k: 5,
            geometry: Geometry::Euclidean,
            max_iterations: 5,
            seed: 2,
            pool: None,
        };
        let centres = km.run(&mut || {});
        assert_eq!(centres.len(), 10);
        assert!(centres.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn reservoir_is_uniform_enough() {
        let mut hits = vec![0u32; 100];
        for seed in 0..2000 {
            let mut r = Reservoir::new(10, seed);
            for i in 0..100 {
                r.offer(|| i);
            }
            assert_eq!(r.seen(), 100);
            for i in r.items {
                hits[i] += 1;
            }
        }
        // Expected 200 per item.
        assert!(hits.iter().all(|h| (140..260).contains(h)), "{hits:?}");
    }
}
