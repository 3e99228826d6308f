//! PURE: sketches — a few hundred bits and two factors per vector, from which a search estimates
//! the distance between a query and a vector without reading the vector (RaBitQ: Gao & Long,
//! "RaBitQ: Quantizing High-Dimensional Vectors with a Theoretical Error Bound for Approximate
//! Nearest Neighbor Search", SIGMOD 2024).
//!
//! `ruhnsw` (format version 5) stores one beside each entry of a layer-0 neighbour list, so that
//! a search estimates a whole list's distances from the list's own page and reads ("visits")
//! only the neighbours that can still enter its result. Measured by simulating that search over graphs of glove-100k, minilm-384-50k and a 1536-d set
//! (m 16, ef_construction 64): 3.8–4.5× fewer visits at `ef_search` 40, with recall@10 at every
//! `ef_search` from 10 to 320 within 0.003 of the unpruned search, using [`bits_for`] and
//! [`slack_for`].
//!
//! A vector `o` is taken relative to a centroid `c` (`r = o − c`, `n = |r|`) and rotated by a
//! fixed random orthogonal transform `R` over the dimensions padded to a power of two `P`; the
//! first `B` rotated coordinates are kept (all of them when `B = P`, a random projection
//! otherwise, which keeps angles approximately). With `u` those coordinates normalised, the
//! sketch is their signs (`x̄ = sign(u) / √B`) and the factors `n` and `f = <x̄, u>`. For a query
//! `q` (`s = q − c`, `nq = |s|`, `v` its kept rotated coordinates normalised), RaBitQ's
//! estimator gives `cos(r, s) ≈ <x̄, v> / f`, and `|o − q|² = n² + nq² − 2 n nq cos(r, s)`.
//! `<x̄, v>` is computed with popcounts over the query quantized to 4 bits per coordinate (the
//! paper's `B_q = 4`). The estimate's error scale is `√(1 − f²) / (f √(B − 1))` in `cos` (the
//! paper's bound without its constant).
//!
//! `R` is three rounds of a random sign flip followed by the normalised Walsh–Hadamard
//! transform: orthogonal, `O(P log P)`, nothing to store but a seed.

use crate::ivf::kmeans::SplitMix;

/// Sketch bits for vectors of `dims` dimensions: one per dimension rounded up to a power of
/// two, at least 256 (fewer bits lose recall at small `ef_search` that no slack recovers
/// cheaply) and at most 1,024 (wider sketches save few visits more, and a 32-entry list's
/// sketches must fit a page beside it: 136 bytes each at 1,024 bits).
pub fn bits_for(dims: usize) -> usize {
    dims.next_power_of_two().clamp(256, 1024)
}

/// How many error scales (`SketchQuery::may_beat`'s `slack`) a search at `ef_search` allows an
/// estimate: at a small `ef_search` the true nearest neighbours sit right at the result's bound,
/// where an estimate's error decides, so it is generous there and zero from `ef_search` 160 on.
pub fn slack_for(ef_search: usize) -> f32 {
    (2.0 - 0.5 * (ef_search.max(1) as f32 / 10.0).log2()).max(0.0)
}

/// How sketches are made: the centroid vectors are taken relative to, the rotation's seed and
/// the bits kept.
#[derive(Clone, Debug)]
pub struct SketchSpace {
    dims: usize,
    /// Dimensions the rotation works in (a power of two, at least `dims` and `bits`).
    padded: usize,
    /// Rotated coordinates kept (a multiple of 64).
    bits: usize,
    centroid: Vec<f32>,
    signs: [Vec<f32>; 3],
}

/// Bytes of the two factors after the bits.
const FACTORS: usize = 8;

impl SketchSpace {
    /// Sketches of `centroid.len()`-dimensional vectors around `centroid`, of `bits` bits
    /// (rounded up to a multiple of 64), rotated by the transform seeded with `seed`.
    pub fn new(centroid: Vec<f32>, bits: usize, seed: u64) -> SketchSpace {
        let dims = centroid.len();
        let bits = bits.max(64).next_multiple_of(64);
        let padded = dims.max(bits).next_power_of_two();
        let mut rng = SplitMix::new(seed);
        let mut round = || {
            (0..padded)
                .map(|_| if rng.next_u64() >> 63 == 0 { 1.0 } else { -1.0 })
                .collect::<Vec<f32>>()
        };
        let signs = [round(), round(), round()];
        SketchSpace {
            dims,
            padded,
            bits,
            centroid,
            signs,
        }
    }

    /// Dimensions of the vectors.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The centroid vectors are taken relative to.
    pub fn centroid(&self) -> &[f32] {
        &self.centroid
    }

    /// Bits of a sketch.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Bytes of one sketch: the bits, then `n` and `f` as little-endian f32.
    pub fn bytes(&self) -> usize {
        self.bits / 8 + FACTORS
    }

    /// `R (x − c)`, padded.
    fn rotate(&self, x: &[f32]) -> Vec<f32> {
        assert_eq!(x.len(), self.dims, "vector of the wrong dimension");
        let mut y = vec![0.0f32; self.padded];
        for ((y, &x), &c) in y.iter_mut().zip(x).zip(&self.centroid) {
            *y = x - c;
        }
        let scale = 1.0 / (self.padded as f32).sqrt();
        for signs in &self.signs {
            for (y, s) in y.iter_mut().zip(signs) {
                *y *= s;
            }
            walsh_hadamard(&mut y);
            for y in y.iter_mut() {
                *y *= scale;
            }
        }
        y
    }

    /// Appends the sketch of `v` to `out` ([`SketchSpace::bytes`] bytes).
    pub fn encode(&self, v: &[f32], out: &mut Vec<u8>) {
        let rotated = self.rotate(v);
        let n = norm(&rotated);
        let u = &rotated[..self.bits];
        for chunk in u.chunks(64) {
            let word = chunk
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, &x)| w | (((x > 0.0) as u64) << i));
            out.extend_from_slice(&word.to_le_bytes());
        }
        let nu = norm(u);
        let f = if nu > 0.0 {
            u.iter().map(|x| x.abs()).sum::<f32>() / nu / (self.bits as f32).sqrt()
        } else {
            0.0
        };
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&f.to_le_bytes());
    }

    /// Prepares a query.
    pub fn query(&self, q: &[f32]) -> SketchQuery {
        let rotated = self.rotate(q);
        let nq = norm(&rotated);
        let v = &rotated[..self.bits];
        let words = self.bits / 64;
        let mut planes = vec![0u64; 4 * words];
        let (lo, hi) = v
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let delta = if hi > lo { (hi - lo) / 15.0 } else { 1.0 };
        // Each coordinate's 4-bit level (rounded to nearest: `x − lo ≥ 0`), into the four
        // planes a word at a time. (Per query: a tenth of a short search's time before it was
        // written so.)
        let inv_delta = 1.0 / delta;
        for (w, chunk) in v.chunks(64).enumerate() {
            let mut word = [0u64; 4];
            for (i, &x) in chunk.iter().enumerate() {
                let level = (((x - lo) * inv_delta + 0.5) as u64).min(15);
                for (j, word) in word.iter_mut().enumerate() {
                    *word |= (level >> j & 1) << i;
                }
            }
            for (j, word) in word.into_iter().enumerate() {
                planes[j * words + w] = word;
            }
        }
        // In units of the normalised kept coordinates.
        let nv = norm(v);
        let unit = if nv > 0.0 { 1.0 / nv } else { 0.0 };
        SketchQuery {
            planes,
            words,
            nq,
            lo: lo * unit,
            delta: delta * unit,
            sum: v.iter().sum::<f32>() * unit,
            inv_sqrt_bits: 1.0 / (self.bits as f32).sqrt(),
            error_scale: 1.0 / ((self.bits - 1) as f32).sqrt(),
        }
    }
}

fn norm(x: &[f32]) -> f32 {
    crate::kernels::sparse::norm_squared(x).sqrt()
}

/// A query prepared for estimates against sketches of one [`SketchSpace`].
#[derive(Clone, Debug)]
pub struct SketchQuery {
    /// The normalised kept coordinates quantized to 4 bits each, as four bit planes.
    planes: Vec<u64>,
    words: usize,
    nq: f32,
    lo: f32,
    delta: f32,
    sum: f32,
    inv_sqrt_bits: f32,
    error_scale: f32,
}

/// A distance estimate: squared L2 and its error scale (same unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub l2_squared: f32,
    pub sigma: f32,
}

impl SketchQuery {
    /// The estimated squared L2 distance between the query and the vector `sketch` was made
    /// from, with its error scale. `sketch` must come from the same space (bytes as
    /// [`SketchSpace::bytes`]). The body is `#[inline(always)]` so that a caller compiled
    /// with the `popcnt` target feature gets the instruction.
    #[inline(always)]
    pub fn estimate(&self, sketch: &[u8]) -> Estimate {
        let words = self.words;
        let (bits, factors) = sketch.split_at(words * 8);
        let n = f32::from_le_bytes(factors[0..4].try_into().expect("4 bytes"));
        let f = f32::from_le_bytes(factors[4..8].try_into().expect("4 bytes"));
        if n == 0.0 || f <= 0.0 || self.nq == 0.0 {
            // The vector or the query is the centroid: the distance is the other's norm.
            return Estimate {
                l2_squared: n * n + self.nq * self.nq,
                sigma: 0.0,
            };
        }
        let mut ones = 0u32;
        let mut weighted = 0u32;
        for (w, chunk) in bits.chunks_exact(8).enumerate() {
            let b = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            ones += b.count_ones();
            for j in 0..4 {
                weighted += (b & self.planes[j * words + w]).count_ones() << j;
            }
        }
        // Σ of the query's coordinates where the sketch's bit is set, from the 4-bit levels;
        // then <x̄, v> = (2 Σ_set − Σ_all) / √B.
        let set = self.lo * ones as f32 + self.delta * weighted as f32;
        let xv = (2.0 * set - self.sum) * self.inv_sqrt_bits;
        let cos = (xv / f).clamp(-1.0, 1.0);
        let scale = 2.0 * n * self.nq;
        Estimate {
            l2_squared: (n * n + self.nq * self.nq - scale * cos).max(0.0),
            sigma: scale * (1.0 - f * f).max(0.0).sqrt() / f * self.error_scale,
        }
    }

    /// Whether the vector `sketch` was made from may be within squared L2 distance `bound` of
    /// the query, allowing the estimate `slack` error scales ([`slack_for`]). A sketch whose
    /// factor `f` is not positive says nothing (all bytes zero: no sketch; a vector at the centroid)
    /// and may always beat the bound, as may one whose estimate is not a number (a damaged
    /// page): a sketch only ever spares a visit, it never decides a result.
    #[inline]
    pub fn may_beat(&self, sketch: &[u8], bound: f32, slack: f32) -> bool {
        let f = f32::from_le_bytes(
            sketch[self.words * 8 + 4..self.words * 8 + 8]
                .try_into()
                .expect("4 bytes"),
        );
        if f.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return true;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has POPCNT (checked above; the result is cached by std).
            return unsafe { self.may_beat_popcnt(sketch, bound, slack) };
        }
        self.may_beat_with(sketch, bound, slack)
    }

    /// [`SketchQuery::may_beat`] compiled with the POPCNT instruction (x86-64's baseline
    /// lacks it, and `count_ones` is then a dozen instructions).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn may_beat_popcnt(&self, sketch: &[u8], bound: f32, slack: f32) -> bool {
        self.may_beat_with(sketch, bound, slack)
    }

    #[inline(always)]
    fn may_beat_with(&self, sketch: &[u8], bound: f32, slack: f32) -> bool {
        let e = self.estimate(sketch);
        // A NaN estimate keeps the vector.
        (e.l2_squared - slack * e.sigma).partial_cmp(&bound) != Some(std::cmp::Ordering::Greater)
    }
}

/// The Walsh–Hadamard transform in place (unnormalised; `x.len()` a power of two).
///
/// The first three levels run within blocks of 8 in registers, the others across the vector;
/// every butterfly adds and subtracts the same two values as the plain level-by-level loop
/// (`walsh_hadamard_levels`), so the result is the same to the bit — stored sketches were
/// encoded with it.
fn walsh_hadamard(x: &mut [f32]) {
    let n = x.len();
    if n < 8 {
        return walsh_hadamard_levels(x, 1);
    }
    for block in x.chunks_exact_mut(8) {
        let mut a: [f32; 8] = block.try_into().expect("a block of 8");
        for h in [1, 2, 4] {
            for i in (0..8).filter(|i| i & h == 0) {
                let (s, d) = (a[i] + a[i + h], a[i] - a[i + h]);
                a[i] = s;
                a[i + h] = d;
            }
        }
        block.copy_from_slice(&a);
    }
    walsh_hadamard_levels(x, 8);
}

/// The levels of the Walsh–Hadamard transform from butterflies `h` apart on.
fn walsh_hadamard_levels(x: &mut [f32], mut h: usize) {
    let n = x.len();
    while h < n {
        for block in x.chunks_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (a, b) in a.iter_mut().zip(b.iter_mut()) {
                let (s, d) = (*a + *b, *a - *b);
                *a = s;
                *b = d;
            }
        }
        h *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(rng: &mut SplitMix, dims: usize) -> Vec<f32> {
        (0..dims)
            .map(|_| rng.next_f64() as f32 * 2.0 - 1.0)
            .collect()
    }

    fn l2(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    #[test]
    fn no_sketch_and_nan_always_may_beat() {
        let space = SketchSpace::new(vec![0.0; 40], bits_for(40), 7);
        let q = space.query(&[1.0; 40]);
        assert!(q.may_beat(&vec![0u8; space.bytes()], 0.0, 0.0));
        let mut far = Vec::new();
        space.encode(&[-1.0; 40], &mut far);
        assert!(!q.may_beat(&far, 1.0, 0.0));
        let n = far.len() - 8;
        far[n..n + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(q.may_beat(&far, 1.0, 0.0));
    }

    #[test]
    fn walsh_hadamard_is_the_level_by_level_transform_to_the_bit() {
        let mut rng = SplitMix::new(7);
        for n in [1usize, 2, 4, 8, 16, 64, 512, 2048] {
            let x: Vec<f32> = (0..n)
                .map(|_| (rng.next_u64() >> 40) as f32 / 1e5 - 80.0)
                .collect();
            let (mut fast, mut plain) = (x.clone(), x);
            walsh_hadamard(&mut fast);
            walsh_hadamard_levels(&mut plain, 1);
            assert!(
                fast.iter()
                    .zip(&plain)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "n = {n}"
            );
        }
    }

    #[test]
    fn rotation_keeps_lengths_and_distances() {
        let mut rng = SplitMix::new(7);
        let space = SketchSpace::new(vec![0.0; 50], 64, 3);
        let (a, b) = (random(&mut rng, 50), random(&mut rng, 50));
        let (ra, rb) = (space.rotate(&a), space.rotate(&b));
        assert_eq!(ra.len(), 64);
        let rel = |x: f32, y: f32| ((x - y) / y).abs();
        assert!(rel(norm(&ra), norm(&a)) < 1e-5);
        assert!(rel(l2(&ra, &rb), l2(&a, &b)) < 1e-4);
    }

    /// Mean relative error of the estimates, and the share of errors within three error scales.
    fn errors(dims: usize, bits: usize) -> (f32, f32) {
        let mut rng = SplitMix::new(11 + dims as u64);
        let centroid = random(&mut rng, dims).iter().map(|x| x * 0.1).collect();
        let space = SketchSpace::new(centroid, bits, 5);
        let q = random(&mut rng, dims);
        let prepared = space.query(&q);
        let (mut sum, mut within) = (0.0, 0);
        let trials = 400;
        for _ in 0..trials {
            let o = random(&mut rng, dims);
            let mut sketch = Vec::new();
            space.encode(&o, &mut sketch);
            assert_eq!(sketch.len(), space.bytes());
            let exact = l2(&o, &q);
            let e = prepared.estimate(&sketch);
            sum += ((e.l2_squared - exact) / exact).abs();
            within += ((e.l2_squared - exact).abs() <= 3.0 * e.sigma) as usize;
        }
        (sum / trials as f32, within as f32 / trials as f32)
    }

    #[test]
    fn estimates_track_exact_distances() {
        // (dims, bits): no projection, padding beyond the dimensions, and projections.
        for (dims, bits) in [(50, 64), (50, 256), (384, 512), (384, 256), (1536, 1024)] {
            let (mean, within) = errors(dims, bits);
            // The error shrinks as 1/√B (measured 0.08 at 64 bits, 0.03 at 512; a projection
            // adds some: 0.054 at 256 of 512 coordinates).
            let limit = 1.0 / (bits as f32).sqrt();
            assert!(
                mean < limit,
                "{dims}-d, {bits} bits: mean relative error {mean}"
            );
            // The error scale leaves out a projection's own error (96.8% at 256 of 512).
            assert!(
                within >= 0.95,
                "{dims}-d, {bits} bits: {within} within 3 sigma"
            );
        }
    }

    #[test]
    fn the_centroid_and_zero_queries_are_exact() {
        let space = SketchSpace::new(vec![0.5; 10], 64, 1);
        let mut sketch = Vec::new();
        space.encode(&[0.5; 10], &mut sketch);
        let q = space.query(&[1.5; 10]);
        assert!((q.estimate(&sketch).l2_squared - 10.0).abs() < 1e-4);
        let mut other = Vec::new();
        space.encode(&[2.5; 10], &mut other);
        let at_centroid = space.query(&[0.5; 10]);
        assert!((at_centroid.estimate(&other).l2_squared - 40.0).abs() < 1e-3);
    }

    /// A sketch is stored on pages: the same vector must give the same bytes in every release.
    #[test]
    fn sketch_bytes_are_stable() {
        let space = SketchSpace::new((0..8).map(|i| i as f32 / 16.0).collect(), 64, 0x5eed);
        let mut sketch = Vec::new();
        space.encode(&[1.0, -1.0, 0.5, 0.25, 0.0, -0.5, 2.0, 0.125], &mut sketch);
        assert_eq!(sketch.len(), 16);
        let words = u64::from_le_bytes(sketch[..8].try_into().unwrap());
        let n = f32::from_le_bytes(sketch[8..12].try_into().unwrap());
        let f = f32::from_le_bytes(sketch[12..16].try_into().unwrap());
        assert_eq!(words, GOLDEN_WORD, "{words:#x}");
        assert!((n - 2.394_655_5).abs() < 1e-5, "{n}");
        assert!((f - GOLDEN_F).abs() < 1e-6, "{f:.7}");
    }

    const GOLDEN_WORD: u64 = 0xadb9_6c5d_fbec_faf9;
    const GOLDEN_F: f32 = 0.807_462_2;

    #[test]
    fn bits_and_slack_follow_the_measured_rule() {
        assert_eq!(bits_for(50), 256);
        assert_eq!(bits_for(384), 512);
        assert_eq!(bits_for(768), 1024);
        assert_eq!(bits_for(1536), 1024);
        assert_eq!(slack_for(10), 2.0);
        assert_eq!(slack_for(40), 1.0);
        assert_eq!(slack_for(160), 0.0);
        assert_eq!(slack_for(1000), 0.0);
    }

    #[test]
    fn may_beat_prunes_only_far_vectors() {
        let mut rng = SplitMix::new(3);
        let space = SketchSpace::new(vec![0.0; 384], 512, 9);
        let q = random(&mut rng, 384);
        let prepared = space.query(&q);
        let near: Vec<f32> = q.iter().map(|x| x + 0.01).collect();
        let far: Vec<f32> = q.iter().map(|x| -x).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        space.encode(&near, &mut a);
        space.encode(&far, &mut b);
        // The error scale is relative to the vectors' lengths, not to their distance: a vector
        // next to the query is kept with the slack of a small ef_search, its opposite is not.
        let bound = 2.0 * l2(&near, &q);
        assert!(prepared.may_beat(&a, bound, 2.0));
        assert!(!prepared.may_beat(&b, bound, 2.0));
    }
}
