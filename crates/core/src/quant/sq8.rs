//! PURE: scalar quantization to 8 bits. Each dimension's range [lo, hi] (min and max over the
//! training sample) is cut into 255 equal steps: x ≈ lo + c·s with s = (hi − lo)/255 and
//! c = round((x − lo)/s) clamped to 0..=255. Values outside the trained range clamp to its ends.
//!
//! Estimates are asymmetric — the query stays in f32, only the stored side is quantized:
//! * −q·x̂ = −(q·lo + Σ (qᵢsᵢ)·cᵢ): one u8×f32 dot product per code;
//! * |q − x̂|² = Σ (aᵢ − sᵢcᵢ)² with aᵢ = qᵢ − loᵢ, and |q − x̂|₁ likewise;
//!   with the `simd.rs` kernels.

use super::simd::sq8 as kernels;
use super::Op;

#[derive(Clone, Debug, PartialEq)]
pub struct Sq8 {
    lo: Vec<f32>,
    step: Vec<f32>,
}

/// A query prepared for SQ8 estimates.
pub struct Sq8Query {
    op: Op,
    /// NegDot: qᵢ·sᵢ; L2/L1: qᵢ − loᵢ.
    terms: Vec<f32>,
    bias: f32,
    step: Vec<f32>,
}

impl Sq8 {
    /// Per-dimension min/max of `sample` (`dims` floats per point); [−1, 1] without points.
    pub fn train(dims: usize, sample: &[f32]) -> Sq8 {
        let mut lo = vec![f32::INFINITY; dims];
        let mut hi = vec![f32::NEG_INFINITY; dims];
        for p in sample.chunks_exact(dims.max(1)) {
            for i in 0..dims {
                if p[i].is_finite() {
                    lo[i] = lo[i].min(p[i]);
                    hi[i] = hi[i].max(p[i]);
                }
            }
        }
        for i in 0..dims {
            if lo[i] > hi[i] {
                (lo[i], hi[i]) = (-1.0, 1.0);
            }
        }
        let step = lo.iter().zip(&hi).map(|(l, h)| (h - l) / 255.0).collect();
        Sq8 { lo, step }
    }

    pub fn dims(&self) -> usize {
        self.lo.len()
    }

    /// Bytes of the parameters.
    pub fn memory(&self) -> usize {
        (self.lo.len() + self.step.len()) * 4
    }

    pub fn floats(&self) -> Vec<f32> {
        let mut v = self.lo.clone();
        v.extend_from_slice(&self.step);
        v
    }

    pub fn from_floats(dims: usize, f: Vec<f32>) -> Option<Sq8> {
        (f.len() == 2 * dims && f.iter().all(|x| x.is_finite())).then(|| Sq8 {
            lo: f[..dims].to_vec(),
            step: f[dims..].to_vec(),
        })
    }

    pub fn encode(&self, x: &[f32]) -> Vec<u8> {
        x.iter()
            .zip(self.lo.iter().zip(&self.step))
            .map(|(v, (l, s))| {
                if *s > 0.0 {
                    ((v - l) / s).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                }
            })
            .collect()
    }

    pub fn decode(&self, code: &[u8]) -> Vec<f32> {
        code.iter()
            .zip(self.lo.iter().zip(&self.step))
            .map(|(c, (l, s))| l + s * *c as f32)
            .collect()
    }

    pub fn prepare(&self, q: &[f32], op: Op) -> Sq8Query {
        match op {
            Op::NegDot => Sq8Query {
                op,
                terms: q.iter().zip(&self.step).map(|(x, s)| x * s).collect(),
                bias: q.iter().zip(&self.lo).map(|(x, l)| x * l).sum(),
                step: self.step.clone(),
            },
            Op::L2 | Op::L1 => Sq8Query {
                op,
                terms: q.iter().zip(&self.lo).map(|(x, l)| x - l).collect(),
                bias: 0.0,
                step: self.step.clone(),
            },
        }
    }
}

impl Sq8Query {
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        let k = kernels();
        match self.op {
            Op::NegDot => -(self.bias + (k.dot)(&self.terms, code)),
            Op::L2 => (k.l2)(&self.terms, &self.step, code),
            Op::L1 => (k.l1)(&self.terms, &self.step, code),
        }
    }

    pub fn memory(&self) -> usize {
        4 * (self.terms.capacity() + self.step.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn points(dims: usize, n: usize) -> impl Strategy<Value = Vec<f32>> {
        prop::collection::vec(-10.0f32..10.0, dims * n)
    }

    proptest! {
        /// Reconstruction error is at most half a step per dimension inside the trained range.
        #[test]
        fn decode_is_within_half_a_step(sample in points(7, 20)) {
            let q = Sq8::train(7, &sample);
            for p in sample.chunks_exact(7) {
                let d = q.decode(&q.encode(p));
                for i in 0..7 {
                    prop_assert!((d[i] - p[i]).abs() <= q.step[i] * 0.5 + 1e-5 * (1.0 + p[i].abs()));
                }
            }
        }

        /// The estimate is the exact distance between the query and the decoded vector, and
        /// it is within the quantization error bound of the true distance.
        #[test]
        fn estimates_are_exact_on_decoded_vectors(sample in points(19, 12), query in prop::collection::vec(-10.0f32..10.0, 19)) {
            let q = Sq8::train(19, &sample);
            for op in [Op::L2, Op::NegDot, Op::L1] {
                let pq = q.prepare(&query, op);
                for p in sample.chunks_exact(19) {
                    let code = q.encode(p);
                    let decoded = q.decode(&code);
                    let est = pq.distance(&code);
                    let on_decoded = op.exact(&query, &decoded);
                    prop_assert!((est - on_decoded).abs() <= 1e-3 * (1.0 + on_decoded.abs()), "{op:?} {est} {on_decoded}");
                    // |Σ qᵢxᵢ − Σ qᵢx̂ᵢ| ≤ Σ |qᵢ|·sᵢ/2; for L1 the bound is Σ sᵢ/2.
                    let exact = op.exact(&query, p);
                    let bound: f32 = match op {
                        Op::NegDot => query.iter().zip(&q.step).map(|(x, s)| x.abs() * s / 2.0).sum(),
                        Op::L1 => q.step.iter().map(|s| s / 2.0).sum(),
                        Op::L2 => query.iter().zip(p).zip(&q.step)
                            .map(|((x, y), s)| (x - y).abs() * s + s * s / 4.0).sum(),
                    };
                    prop_assert!((est - exact).abs() <= bound * 1.001 + 1e-3 * (1.0 + exact.abs()), "{op:?} {est} {exact} {bound}");
                }
            }
        }
    }

    #[test]
    fn out_of_range_values_clamp_and_empty_training_is_unit_range() {
        let q = Sq8::train(2, &[]);
        assert_eq!(q.encode(&[-5.0, 5.0]), vec![0, 255]);
        assert_eq!(q.decode(&[0, 255]), vec![-1.0, 1.0]);
        let q = Sq8::train(1, &[3.0, 3.0]);
        assert_eq!(q.encode(&[3.0]), vec![0]);
        assert_eq!(q.decode(&[0]), vec![3.0]);
    }
}
