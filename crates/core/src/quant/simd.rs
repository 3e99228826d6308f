//! PURE: the kernels of the SQ8 estimators (f32 query terms against u8 codes), once per
//! instruction-set tier, picked with the distance kernels' tier (`crate::kernels`).
//!
//! Each kernel body is written once, with 16 independent f32 accumulators so the compiler can
//! keep them in vector registers without reassociating a float sum (which it may not do on its
//! own), and compiled three times: plain, with AVX2+FMA, and with AVX-512F enabled. The u8→f32
//! widening and the multiply-adds then become `vpmovzxbd`/`vcvtdq2ps`/`vfmadd` sequences.

use crate::kernels::{kernels, Tier};

/// One tier's SQ8 kernels. All slices have the code's length (callers guarantee it).
pub struct Sq8Kernels {
    /// Σ w[i]·c[i]
    pub dot: fn(&[f32], &[u8]) -> f32,
    /// Σ (a[i] − s[i]·c[i])²
    pub l2: fn(&[f32], &[f32], &[u8]) -> f32,
    /// Σ |a[i] − s[i]·c[i]|
    pub l1: fn(&[f32], &[f32], &[u8]) -> f32,
}

const LANES: usize = 16;

macro_rules! bodies {
    ($dot:ident, $l2:ident, $l1:ident $(, $feature:literal)?) => {
        $(#[target_feature(enable = $feature)])?
        unsafe fn $dot(w: &[f32], c: &[u8]) -> f32 {
            let n = w.len().min(c.len());
            let (w, c) = (&w[..n], &c[..n]);
            let mut acc = [0f32; LANES];
            let mut wc = w.chunks_exact(LANES);
            let mut cc = c.chunks_exact(LANES);
            for (x, y) in (&mut wc).zip(&mut cc) {
                for j in 0..LANES {
                    acc[j] += x[j] * y[j] as f32;
                }
            }
            let mut tail = 0f32;
            for (x, y) in wc.remainder().iter().zip(cc.remainder()) {
                tail += x * *y as f32;
            }
            acc.iter().sum::<f32>() + tail
        }

        $(#[target_feature(enable = $feature)])?
        unsafe fn $l2(a: &[f32], s: &[f32], c: &[u8]) -> f32 {
            let n = a.len().min(s.len()).min(c.len());
            let (a, s, c) = (&a[..n], &s[..n], &c[..n]);
            let mut acc = [0f32; LANES];
            let mut ac = a.chunks_exact(LANES);
            let mut sc = s.chunks_exact(LANES);
            let mut cc = c.chunks_exact(LANES);
            for ((x, z), y) in (&mut ac).zip(&mut sc).zip(&mut cc) {
                for j in 0..LANES {
                    let d = x[j] - z[j] * y[j] as f32;
                    acc[j] += d * d;
                }
            }
            let mut tail = 0f32;
            for ((x, z), y) in ac.remainder().iter().zip(sc.remainder()).zip(cc.remainder()) {
                let d = x - z * *y as f32;
                tail += d * d;
            }
            acc.iter().sum::<f32>() + tail
        }

        $(#[target_feature(enable = $feature)])?
        unsafe fn $l1(a: &[f32], s: &[f32], c: &[u8]) -> f32 {
            let n = a.len().min(s.len()).min(c.len());
            let (a, s, c) = (&a[..n], &s[..n], &c[..n]);
            let mut acc = [0f32; LANES];
            let mut ac = a.chunks_exact(LANES);
            let mut sc = s.chunks_exact(LANES);
            let mut cc = c.chunks_exact(LANES);
            for ((x, z), y) in (&mut ac).zip(&mut sc).zip(&mut cc) {
                for j in 0..LANES {
                    acc[j] += (x[j] - z[j] * y[j] as f32).abs();
                }
            }
            let mut tail = 0f32;
            for ((x, z), y) in ac.remainder().iter().zip(sc.remainder()).zip(cc.remainder()) {
                tail += (x - z * *y as f32).abs();
            }
            acc.iter().sum::<f32>() + tail
        }
    };
}

bodies!(dot_scalar, l2_scalar, l1_scalar);
#[cfg(target_arch = "x86_64")]
bodies!(dot_avx2, l2_avx2, l1_avx2, "avx2,fma");
#[cfg(target_arch = "x86_64")]
bodies!(dot_avx512, l2_avx512, l1_avx512, "avx512f");

macro_rules! table {
    ($name:ident, $dot:ident, $l2:ident, $l1:ident) => {
        static $name: Sq8Kernels = Sq8Kernels {
            // SAFETY: the table is only handed out for a tier the CPU supports (`for_tier`).
            dot: |w, c| unsafe { $dot(w, c) },
            l2: |a, s, c| unsafe { $l2(a, s, c) },
            l1: |a, s, c| unsafe { $l1(a, s, c) },
        };
    };
}

table!(SCALAR, dot_scalar, l2_scalar, l1_scalar);
#[cfg(target_arch = "x86_64")]
table!(AVX2, dot_avx2, l2_avx2, l1_avx2);
#[cfg(target_arch = "x86_64")]
table!(AVX512, dot_avx512, l2_avx512, l1_avx512);

/// The SQ8 kernels of `tier` (the tier must be one this CPU runs: see `kernels::for_tier`).
pub fn for_tier(tier: Tier) -> &'static Sq8Kernels {
    match tier {
        #[cfg(target_arch = "x86_64")]
        Tier::Avx2 => &AVX2,
        #[cfg(target_arch = "x86_64")]
        Tier::Avx512 => &AVX512,
        // NEON is part of the aarch64 baseline: the plain body is vectorised with it.
        _ => &SCALAR,
    }
}

/// The SQ8 kernels of the active tier.
#[inline]
pub fn sq8() -> &'static Sq8Kernels {
    for_tier(kernels().tier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::available_tiers;

    #[test]
    fn every_tier_agrees_with_f64() {
        for n in [0usize, 1, 15, 16, 17, 50, 384, 1000] {
            let w: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
                .collect();
            let s: Vec<f32> = (0..n)
                .map(|i| ((i * 11 % 13) as f32 + 1.0) / 300.0)
                .collect();
            let c: Vec<u8> = (0..n).map(|i| (i * 73 % 256) as u8).collect();
            let dot: f64 = (0..n).map(|i| w[i] as f64 * c[i] as f64).sum();
            let l2: f64 = (0..n)
                .map(|i| (w[i] as f64 - s[i] as f64 * c[i] as f64).powi(2))
                .sum();
            let l1: f64 = (0..n)
                .map(|i| (w[i] as f64 - s[i] as f64 * c[i] as f64).abs())
                .sum();
            for t in available_tiers() {
                let k = for_tier(t);
                let tol = |x: f64| 1e-4 * (1.0 + x.abs());
                assert!(
                    ((k.dot)(&w, &c) as f64 - dot).abs() < tol(dot) * 10.0,
                    "{t:?} {n}"
                );
                assert!(
                    ((k.l2)(&w, &s, &c) as f64 - l2).abs() < tol(l2),
                    "{t:?} {n}"
                );
                assert!(
                    ((k.l1)(&w, &s, &c) as f64 - l1).abs() < tol(l1),
                    "{t:?} {n}"
                );
            }
        }
    }
}
