//! PURE: binary quantization — one bit per dimension, set when the value is above the
//! dimension's mean over the training sample (centring first matters: embedding dimensions are
//! often offset, and a plain sign bit would then be constant). Codes are compared with the
//! Hamming distance on the popcount kernels (`crate::kernels`); it orders by angle around the
//! mean, coarse enough that the index always re-ranks with exact distances.
//!
//! Decoding (needed only when an insert compares two stored codes) gives mean ± the dimension's
//! mean absolute deviation.

use crate::kernels::kernels;

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    mean: Vec<f32>,
    spread: Vec<f32>,
}

pub struct BinaryQuery {
    bits: Vec<u8>,
}

impl Binary {
    /// Per-dimension mean and mean absolute deviation; 0 and 1 without points.
    pub fn train(dims: usize, sample: &[f32]) -> Binary {
        let n = sample.len() / dims.max(1);
        if n == 0 {
            return Binary {
                mean: vec![0.0; dims],
                spread: vec![1.0; dims],
            };
        }
        let mut mean = vec![0f64; dims];
        for p in sample.chunks_exact(dims) {
            for i in 0..dims {
                mean[i] += p[i] as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut spread = vec![0f64; dims];
        for p in sample.chunks_exact(dims) {
            for i in 0..dims {
                spread[i] += (p[i] as f64 - mean[i]).abs();
            }
        }
        Binary {
            mean: mean.iter().map(|m| *m as f32).collect(),
            spread: spread.iter().map(|s| (*s / n as f64) as f32).collect(),
        }
    }

    pub fn dims(&self) -> usize {
        self.mean.len()
    }

    /// Bytes of the parameters.
    pub fn memory(&self) -> usize {
        (self.mean.len() + self.spread.len()) * 4
    }

    pub fn floats(&self) -> Vec<f32> {
        let mut v = self.mean.clone();
        v.extend_from_slice(&self.spread);
        v
    }

    pub fn from_floats(dims: usize, f: Vec<f32>) -> Option<Binary> {
        (f.len() == 2 * dims && f.iter().all(|x| x.is_finite())).then(|| Binary {
            mean: f[..dims].to_vec(),
            spread: f[dims..].to_vec(),
        })
    }

    /// Bit i (most significant first, as in `bit` values) is set when x[i] > mean[i].
    pub fn encode(&self, x: &[f32]) -> Vec<u8> {
        let mut out = vec![0u8; x.len().div_ceil(8)];
        for (i, (v, m)) in x.iter().zip(&self.mean).enumerate() {
            if v > m {
                out[i / 8] |= 0x80 >> (i % 8);
            }
        }
        out
    }

    pub fn decode(&self, code: &[u8]) -> Vec<f32> {
        (0..self.dims())
            .map(|i| {
                let set = code[i / 8] & (0x80 >> (i % 8)) != 0;
                self.mean[i] + if set { self.spread[i] } else { -self.spread[i] }
            })
            .collect()
    }

    pub fn prepare(&self, q: &[f32]) -> BinaryQuery {
        BinaryQuery {
            bits: self.encode(q),
        }
    }
}

impl BinaryQuery {
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        (kernels().hamming)(&self.bits, code) as f32
    }

    pub fn memory(&self) -> usize {
        self.bits.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The estimate is the Hamming distance of the codes: 0 for a vector's own code, and
        /// the count of dimensions on different sides of the mean otherwise.
        #[test]
        fn estimate_counts_dimensions_on_opposite_sides(
            sample in prop::collection::vec(-5.0f32..5.0, 37 * 10),
            q in prop::collection::vec(-5.0f32..5.0, 37),
        ) {
            let b = Binary::train(37, &sample);
            let prepared = b.prepare(&q);
            prop_assert_eq!(prepared.distance(&b.encode(&q)), 0.0);
            for p in sample.chunks_exact(37) {
                let expect = (0..37).filter(|&i| (q[i] > b.mean[i]) != (p[i] > b.mean[i])).count();
                prop_assert_eq!(prepared.distance(&b.encode(p)), expect as f32);
                // decoding lands on the same side of the mean (or on it, for zero spread)
                let d = b.decode(&b.encode(p));
                prop_assert_eq!(b.encode(&d), b.encode(p).iter().enumerate().map(|(i, c)| {
                    let mut c = *c;
                    for k in 0..8 { let dim = i * 8 + k; if dim < 37 && b.spread[dim] == 0.0 { c &= !(0x80 >> k); } }
                    c
                }).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn codes_are_32_times_smaller() {
        let b = Binary::train(384, &[]);
        assert_eq!(b.encode(&[0.5; 384]).len(), 48);
    }
}
