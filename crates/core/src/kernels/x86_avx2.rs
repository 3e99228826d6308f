//! x86-64 AVX2 + FMA tier; f16 is widened with F16C (`vcvtph2ps`), bit kernels use POPCNT.
//!
//! Eight `f32` lanes per register, four independent accumulators in the main loop (32 elements
//! per iteration) to cover FMA latency. A tail shorter than eight elements is one masked load
//! (masked-off lanes read as zero, add nothing to any of the sums, and do not fault). It used to
//! be copied into a zero-padded block on the stack; the 32-byte load of that block then waited
//! for the copy's smaller stores (a failed store-to-load forward): 28% of the cosine kernel's
//! time at 50-d in a sequential scan on an AMD EPYC (perf annotate).

use super::{bits, CosineSums, JaccardCounts, Kernels, Tier};
use core::arch::x86_64::*;
use half::f16;

pub(super) fn kernels() -> Option<&'static Kernels> {
    let ok = std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
        && std::is_x86_feature_detected!("popcnt");
    // SAFETY of the wrappers below: the table is only handed out when the CPU has every feature
    // the `#[target_feature]` functions they call were compiled for.
    ok.then_some(&KERNELS)
}

static KERNELS: Kernels = Kernels {
    tier: Tier::Avx2,
    isa: "AVX2+FMA, F16C, POPCNT",
    l2_squared_f32: |a, b| unsafe { reduce::<f32, L2>(a, b) },
    dot_f32: |a, b| unsafe { reduce::<f32, Dot>(a, b) },
    l1_f32: |a, b| unsafe { reduce::<f32, L1>(a, b) },
    cosine_f32: |a, b| unsafe { cosine::<f32>(a, b) },
    cosine_distance_f32: |a, b| unsafe { cosine_distance::<f32>(a, b) },
    l2_squared_f16: |a, b| unsafe { reduce::<f16, L2>(a, b) },
    dot_f16: |a, b| unsafe { reduce::<f16, Dot>(a, b) },
    l1_f16: |a, b| unsafe { reduce::<f16, L1>(a, b) },
    cosine_f16: |a, b| unsafe { cosine::<f16>(a, b) },
    cosine_distance_f16: |a, b| unsafe { cosine_distance::<f16>(a, b) },
    hamming: |a, b| unsafe { hamming(a, b) },
    jaccard: |a, b| unsafe { jaccard(a, b) },
    dot_i8: |a, b| unsafe { dot_i8(a, b) },
};

/// Σ a[i]·b[i] of int8 codes: sixteen at a time sign-extended to i16 (`vpmovsxbw`) and
/// multiplied pairwise into i32 sums (`vpmaddwd`; a pair of i8 products cannot overflow it),
/// two accumulators; the tail in scalar code.
#[target_feature(enable = "avx2")]
unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_si256(); 2];
    let mut i = 0;
    while i + 32 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            let o = i + 16 * k;
            // SAFETY: o + 16 <= n: both 16-byte loads read inside `a` and `b`.
            let (x, y) = unsafe {
                (
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(o).cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(o).cast())),
                )
            };
            *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(x, y));
        }
        i += 32;
    }
    let acc = _mm256_add_epi32(acc[0], acc[1]);
    let sum = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256::<1>(acc),
    );
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b01_00_11_10>(sum));
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b10_11_00_01>(sum));
    _mm_cvtsi128_si32(sum) + super::scalar::dot_i8(&a[i..n], &b[i..n])
}

/// Masks for `vmaskmov`/`vpmaskmov` loads: the lanes of `MASK[8 - len..]` are set for the
/// first `len` lanes (of 8 or of 4) and clear for the rest.
static MASK: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// Loads eight elements as eight `f32` lanes.
trait Load8: Copy {
    unsafe fn load8(p: *const Self) -> __m256;
    /// Loads `len < 8` elements at `p` into the first lanes, zero in the others, reading no
    /// byte past them.
    unsafe fn load_partial(p: *const Self, len: usize) -> __m256;
}

impl Load8 for f32 {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const f32) -> __m256 {
        // SAFETY: the caller passes 8 readable f32s at `p` (unaligned loads allowed).
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_partial(p: *const f32, len: usize) -> __m256 {
        // SAFETY: `len < 8`, so the mask's 8 lanes lie inside MASK; the caller passes `len`
        // readable f32s at `p`, and masked-off lanes are neither read nor fault (VMASKMOVPS).
        unsafe {
            let mask = _mm256_loadu_si256(MASK.as_ptr().add(8 - len).cast());
            _mm256_maskload_ps(p, mask)
        }
    }
}

impl Load8 for f16 {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load8(p: *const f16) -> __m256 {
        // SAFETY: the caller passes 8 readable f16s (16 bytes) at `p`.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p.cast()) })
    }

    /// Pairs of halves as masked 32-bit lanes (AVX2 has no 16-bit masked load); an odd last
    /// half is inserted on its own.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_partial(p: *const f16, len: usize) -> __m256 {
        // SAFETY: `len < 8`, so `len / 2 < 4` and the mask's 4 lanes lie inside MASK; the
        // caller passes `len` readable f16s at `p`: the masked lanes cover the first
        // `2 * (len / 2)` of them (VPMASKMOVD neither reads nor faults on the others), and an
        // odd last one is read on its own.
        unsafe {
            let mask = _mm_loadu_si128(MASK.as_ptr().add(8 - len / 2).cast());
            let mut h = _mm_maskload_epi32(p.cast(), mask);
            if len % 2 == 1 {
                let last = i32::from(p.add(len - 1).read_unaligned().to_bits());
                h = match len {
                    1 => _mm_insert_epi16::<0>(h, last),
                    3 => _mm_insert_epi16::<2>(h, last),
                    5 => _mm_insert_epi16::<4>(h, last),
                    _ => _mm_insert_epi16::<6>(h, last),
                };
            }
            _mm256_cvtph_ps(h)
        }
    }
}

/// One accumulation step `acc ⊕ f(x, y)` of a sum.
trait Step {
    unsafe fn step(acc: __m256, x: __m256, y: __m256) -> __m256;
}

struct L2;
struct Dot;
struct L1;

impl Step for L2 {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step(acc: __m256, x: __m256, y: __m256) -> __m256 {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    }
}

impl Step for Dot {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step(acc: __m256, x: __m256, y: __m256) -> __m256 {
        _mm256_fmadd_ps(x, y, acc)
    }
}

impl Step for L1 {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step(acc: __m256, x: __m256, y: __m256) -> __m256 {
        // |d| = d with the sign bit cleared
        let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(x, y));
        _mm256_add_ps(acc, abs)
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn reduce<E: Load8, S: Step>(a: &[E], b: &[E]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            let o = i + 8 * k;
            // SAFETY: o + 8 <= n, so both loads read inside `a` and `b`; the CPU has the
            // features `step` was compiled for (this function's).
            *acc = unsafe { S::step(*acc, E::load8(pa.add(o)), E::load8(pb.add(o))) };
        }
        i += 32;
    }
    // Remaining blocks of 8; a final partial block is a masked load.
    while i < n {
        // SAFETY: a full block lies inside `a` and `b` (i + 8 <= n); a partial one reads the
        // `n - i < 8` elements left.
        let (x, y) = if i + 8 <= n {
            unsafe { (E::load8(pa.add(i)), E::load8(pb.add(i))) }
        } else {
            unsafe {
                (
                    E::load_partial(pa.add(i), n - i),
                    E::load_partial(pb.add(i), n - i),
                )
            }
        };
        // SAFETY: the CPU has the features `step` was compiled for (this function's).
        acc[0] = unsafe { S::step(acc[0], x, y) };
        i += 8;
    }
    hsum(_mm256_add_ps(
        _mm256_add_ps(acc[0], acc[1]),
        _mm256_add_ps(acc[2], acc[3]),
    ))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn cosine<E: Load8>(a: &[E], b: &[E]) -> CosineSums {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut dot = [_mm256_setzero_ps(); 2];
    let mut na = [_mm256_setzero_ps(); 2];
    let mut nb = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for k in 0..2 {
            // SAFETY: i + 16 <= n, so both blocks lie inside `a` and `b`.
            let (x, y) = unsafe { (E::load8(pa.add(i + 8 * k)), E::load8(pb.add(i + 8 * k))) };
            dot[k] = _mm256_fmadd_ps(x, y, dot[k]);
            na[k] = _mm256_fmadd_ps(x, x, na[k]);
            nb[k] = _mm256_fmadd_ps(y, y, nb[k]);
        }
        i += 16;
    }
    while i < n {
        // SAFETY: a full block lies inside `a` and `b` (i + 8 <= n); a partial one reads the
        // `n - i < 8` elements left.
        let (x, y) = if i + 8 <= n {
            unsafe { (E::load8(pa.add(i)), E::load8(pb.add(i))) }
        } else {
            unsafe {
                (
                    E::load_partial(pa.add(i), n - i),
                    E::load_partial(pb.add(i), n - i),
                )
            }
        };
        dot[0] = _mm256_fmadd_ps(x, y, dot[0]);
        na[0] = _mm256_fmadd_ps(x, x, na[0]);
        nb[0] = _mm256_fmadd_ps(y, y, nb[0]);
        i += 8;
    }
    CosineSums {
        dot: hsum(_mm256_add_ps(dot[0], dot[1])),
        norm_a: hsum(_mm256_add_ps(na[0], na[1])),
        norm_b: hsum(_mm256_add_ps(nb[0], nb[1])),
    }
}

/// [`CosineSums::distance`] of [`cosine`], inlined: the sums never leave registers.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn cosine_distance<E: Load8>(a: &[E], b: &[E]) -> f64 {
    // SAFETY: the CPU has this function's features, which `cosine` was compiled for.
    unsafe { cosine::<E>(a, b) }.distance()
}

/// Also the AVX-512 tier's bit kernels on CPUs without VPOPCNTDQ.
#[target_feature(enable = "popcnt")]
pub(super) unsafe fn hamming(a: &[u8], b: &[u8]) -> u64 {
    bits::hamming_u64(a, b)
}

#[target_feature(enable = "popcnt")]
pub(super) unsafe fn jaccard(a: &[u8], b: &[u8]) -> JaccardCounts {
    bits::jaccard_u64(a, b)
}
