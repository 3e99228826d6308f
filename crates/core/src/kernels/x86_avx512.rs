//! x86-64 AVX-512 tier: AVX-512F for `f32` math and f16 widening (`vcvtph2ps zmm`), AVX-512BW/VL
//! masked loads for tails, and AVX-512 VPOPCNTDQ for bit kernels when the CPU has it (POPCNT
//! otherwise).
//!
//! Sixteen lanes per register, four accumulators in the main loop (64 elements per iteration).
//! The tail is one masked load: masked-off lanes read as zero and add nothing.

use super::{x86_avx2, CosineSums, JaccardCounts, Kernels, Tier};
use core::arch::x86_64::*;
use half::f16;

pub(super) fn kernels() -> Option<&'static Kernels> {
    let base = std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("popcnt");
    if !base {
        return None;
    }
    // SAFETY of the wrappers below: each table is only handed out when the CPU has every feature
    // the `#[target_feature]` functions it calls were compiled for.
    if std::is_x86_feature_detected!("avx512vpopcntdq") {
        Some(&KERNELS)
    } else {
        Some(&KERNELS_POPCNT)
    }
}

macro_rules! table {
    ($isa:expr, $hamming:expr, $jaccard:expr) => {
        Kernels {
            tier: Tier::Avx512,
            isa: $isa,
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
            hamming: $hamming,
            jaccard: $jaccard,
            dot_i8: |a, b| unsafe { dot_i8(a, b) },
        }
    };
}

static KERNELS: Kernels = table!(
    "AVX-512F/BW/VL, AVX-512 VPOPCNTDQ",
    |a, b| unsafe { hamming_vpopcnt(a, b) },
    |a, b| unsafe { jaccard_vpopcnt(a, b) }
);

static KERNELS_POPCNT: Kernels = table!(
    "AVX-512F/BW/VL, POPCNT",
    |a, b| unsafe { x86_avx2::hamming(a, b) },
    |a, b| unsafe { x86_avx2::jaccard(a, b) }
);

/// Loads sixteen elements (or the first `len < 16` of them, the rest as zero) as `f32` lanes.
trait Load16: Copy {
    unsafe fn load16(p: *const Self) -> __m512;
    unsafe fn load_partial(p: *const Self, len: usize) -> __m512;
}

#[inline(always)]
fn mask16(len: usize) -> __mmask16 {
    ((1u32 << len) - 1) as __mmask16
}

impl Load16 for f32 {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load16(p: *const f32) -> __m512 {
        // SAFETY: the caller passes 16 readable f32s at `p` (unaligned loads allowed).
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load_partial(p: *const f32, len: usize) -> __m512 {
        // SAFETY: the caller passes `len` readable f32s at `p`; masked-off lanes are not read
        // (AVX-512 masked loads suppress faults on them).
        unsafe { _mm512_maskz_loadu_ps(mask16(len), p) }
    }
}

impl Load16 for f16 {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load16(p: *const f16) -> __m512 {
        // SAFETY: the caller passes 16 readable f16s (32 bytes) at `p`.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p.cast()) })
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn load_partial(p: *const f16, len: usize) -> __m512 {
        // SAFETY: the caller passes `len` readable f16s at `p`; masked-off lanes are not read.
        _mm512_cvtph_ps(unsafe { _mm256_maskz_loadu_epi16(mask16(len), p.cast()) })
    }
}

trait Step {
    unsafe fn step(acc: __m512, x: __m512, y: __m512) -> __m512;
}

struct L2;
struct Dot;
struct L1;

impl Step for L2 {
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn step(acc: __m512, x: __m512, y: __m512) -> __m512 {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    }
}

impl Step for Dot {
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn step(acc: __m512, x: __m512, y: __m512) -> __m512 {
        _mm512_fmadd_ps(x, y, acc)
    }
}

impl Step for L1 {
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn step(acc: __m512, x: __m512, y: __m512) -> __m512 {
        _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y)))
    }
}

/// Σ a[i]·b[i] of int8 codes: 32 at a time sign-extended to i16 (`vpmovsxbw`) and multiplied
/// pairwise into i32 sums (`vpmaddwd`), two accumulators; the tail in scalar code.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_si512(); 2];
    let mut i = 0;
    while i + 64 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            let o = i + 32 * k;
            // SAFETY: o + 32 <= n: both 32-byte loads read inside `a` and `b`.
            let (x, y) = unsafe {
                (
                    _mm512_cvtepi8_epi16(_mm256_loadu_si256(pa.add(o).cast())),
                    _mm512_cvtepi8_epi16(_mm256_loadu_si256(pb.add(o).cast())),
                )
            };
            *acc = _mm512_add_epi32(*acc, _mm512_madd_epi16(x, y));
        }
        i += 64;
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(acc[0], acc[1]))
        + super::scalar::dot_i8(&a[i..n], &b[i..n])
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
unsafe fn reduce<E: Load16, S: Step>(a: &[E], b: &[E]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (k, acc) in acc.iter_mut().enumerate() {
            let o = i + 16 * k;
            // SAFETY: o + 16 <= n, so both loads read inside `a` and `b`; the CPU has the
            // features `step` was compiled for (this function's).
            *acc = unsafe { S::step(*acc, E::load16(pa.add(o)), E::load16(pb.add(o))) };
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n: both loads read inside `a` and `b`.
        acc[0] = unsafe { S::step(acc[0], E::load16(pa.add(i)), E::load16(pb.add(i))) };
        i += 16;
    }
    if i < n {
        let len = n - i;
        // SAFETY: the last `len < 16` elements of `a` and `b`, masked loads.
        let (x, y) = unsafe {
            (
                E::load_partial(pa.add(i), len),
                E::load_partial(pb.add(i), len),
            )
        };
        // SAFETY: the CPU has the features `step` was compiled for (this function's).
        acc[1] = unsafe { S::step(acc[1], x, y) };
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc[0], acc[1]),
        _mm512_add_ps(acc[2], acc[3]),
    ))
}

/// [`CosineSums::distance`] of [`cosine`], inlined: the sums never leave registers.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
unsafe fn cosine_distance<E: Load16>(a: &[E], b: &[E]) -> f64 {
    // SAFETY: the CPU has this function's features, which `cosine` was compiled for.
    unsafe { cosine::<E>(a, b) }.distance()
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
unsafe fn cosine<E: Load16>(a: &[E], b: &[E]) -> CosineSums {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut dot = [_mm512_setzero_ps(); 2];
    let mut na = [_mm512_setzero_ps(); 2];
    let mut nb = [_mm512_setzero_ps(); 2];
    let mut i = 0;
    while i + 32 <= n {
        for k in 0..2 {
            // SAFETY: i + 32 <= n, so both blocks lie inside `a` and `b`.
            let (x, y) = unsafe { (E::load16(pa.add(i + 16 * k)), E::load16(pb.add(i + 16 * k))) };
            dot[k] = _mm512_fmadd_ps(x, y, dot[k]);
            na[k] = _mm512_fmadd_ps(x, x, na[k]);
            nb[k] = _mm512_fmadd_ps(y, y, nb[k]);
        }
        i += 32;
    }
    while i < n {
        let len = (n - i).min(16);
        // SAFETY: `len` elements from `i` lie inside `a` and `b` (a partial block masked).
        let (x, y) = unsafe {
            if len == 16 {
                (E::load16(pa.add(i)), E::load16(pb.add(i)))
            } else {
                (
                    E::load_partial(pa.add(i), len),
                    E::load_partial(pb.add(i), len),
                )
            }
        };
        dot[0] = _mm512_fmadd_ps(x, y, dot[0]);
        na[0] = _mm512_fmadd_ps(x, x, na[0]);
        nb[0] = _mm512_fmadd_ps(y, y, nb[0]);
        i += 16;
    }
    CosineSums {
        dot: _mm512_reduce_add_ps(_mm512_add_ps(dot[0], dot[1])),
        norm_a: _mm512_reduce_add_ps(_mm512_add_ps(na[0], na[1])),
        norm_b: _mm512_reduce_add_ps(_mm512_add_ps(nb[0], nb[1])),
    }
}

/// Loads 64 bytes, or the first `len < 64` (the rest as zero).
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn load_bytes(p: *const u8, len: usize) -> __m512i {
    // SAFETY: the caller passes `len` readable bytes at `p`; masked-off bytes are not read.
    unsafe {
        if len >= 64 {
            _mm512_loadu_si512(p.cast())
        } else {
            _mm512_maskz_loadu_epi8((1u64 << len) - 1, p.cast())
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
unsafe fn hamming_vpopcnt(a: &[u8], b: &[u8]) -> u64 {
    let n = a.len().min(b.len());
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    while i < n {
        let len = n - i;
        // SAFETY: `len` (up to 64) bytes from `i` lie inside `a` and `b`.
        let (x, y) = unsafe {
            (
                load_bytes(a.as_ptr().add(i), len),
                load_bytes(b.as_ptr().add(i), len),
            )
        };
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
        i += 64;
    }
    _mm512_reduce_add_epi64(acc) as u64
}

#[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
unsafe fn jaccard_vpopcnt(a: &[u8], b: &[u8]) -> JaccardCounts {
    let n = a.len().min(b.len());
    let (mut both, mut ca, mut cb) = (
        _mm512_setzero_si512(),
        _mm512_setzero_si512(),
        _mm512_setzero_si512(),
    );
    let mut i = 0;
    while i < n {
        let len = n - i;
        // SAFETY: `len` (up to 64) bytes from `i` lie inside `a` and `b`.
        let (x, y) = unsafe {
            (
                load_bytes(a.as_ptr().add(i), len),
                load_bytes(b.as_ptr().add(i), len),
            )
        };
        both = _mm512_add_epi64(both, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
        ca = _mm512_add_epi64(ca, _mm512_popcnt_epi64(x));
        cb = _mm512_add_epi64(cb, _mm512_popcnt_epi64(y));
        i += 64;
    }
    JaccardCounts {
        both: _mm512_reduce_add_epi64(both) as u64,
        a: _mm512_reduce_add_epi64(ca) as u64,
        b: _mm512_reduce_add_epi64(cb) as u64,
    }
}
