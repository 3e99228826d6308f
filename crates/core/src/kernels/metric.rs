//! Distances between stored values, given as their varlena images (4-byte header included) —
//! the form they have in index pages and in the in-memory build arena. One [`Metric`] per index
//! operator class; the value layouts are those of `src/types/varlena.rs`.
//!
//! Every metric is a *distance*: smaller is closer. Inner product and cosine use the negated dot
//! product (cosine on vectors normalised at insert), as pgvector's index support functions do.

use super::sparse::SparseRef;
use super::{kernels, CosineSums};
use half::f16;

/// What an index orders by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Metric {
    /// `ruvector` `<->`: squared L2 (monotonic in L2).
    L2F32 = 1,
    /// `ruvector` `<#>`: −a·b.
    IpF32 = 2,
    /// `ruvector` `<=>`: −a·b of unit vectors (values are normalised before they are stored).
    CosineF32 = 3,
    /// `ruvector` `<+>`.
    L1F32 = 4,
    L2F16 = 11,
    IpF16 = 12,
    CosineF16 = 13,
    L1F16 = 14,
    L2Sparse = 21,
    IpSparse = 22,
    CosineSparse = 23,
    L1Sparse = 24,
    /// `bit` `<~>`
    Hamming = 31,
    /// `bit` `<%>`
    Jaccard = 32,
}

/// The layout of the values a metric reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    DenseF32,
    DenseF16,
    Sparse,
    Bits,
}

impl Metric {
    pub const ALL: [Metric; 14] = [
        Metric::L2F32,
        Metric::IpF32,
        Metric::CosineF32,
        Metric::L1F32,
        Metric::L2F16,
        Metric::IpF16,
        Metric::CosineF16,
        Metric::L1F16,
        Metric::L2Sparse,
        Metric::IpSparse,
        Metric::CosineSparse,
        Metric::L1Sparse,
        Metric::Hamming,
        Metric::Jaccard,
    ];

    pub fn from_u16(x: u16) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| *m as u16 == x)
    }

    pub fn kind(self) -> ValueKind {
        use Metric::*;
        match self {
            L2F32 | IpF32 | CosineF32 | L1F32 => ValueKind::DenseF32,
            L2F16 | IpF16 | CosineF16 | L1F16 => ValueKind::DenseF16,
            L2Sparse | IpSparse | CosineSparse | L1Sparse => ValueKind::Sparse,
            Hamming | Jaccard => ValueKind::Bits,
        }
    }

    /// Whether values are normalised to unit length before they are indexed or searched.
    pub fn normalizes(self) -> bool {
        matches!(
            self,
            Metric::CosineF32 | Metric::CosineF16 | Metric::CosineSparse
        )
    }

    /// Distance between two value images (4-byte varlena header included). Both must be of
    /// this metric's kind and of equal dimensions (the index checks dimensions on insert).
    #[inline]
    pub fn distance(self, a: &[u8], b: &[u8]) -> f32 {
        let k = kernels();
        use Metric::*;
        match self {
            L2F32 => (k.l2_squared_f32)(dense_f32(a), dense_f32(b)),
            IpF32 | CosineF32 => -(k.dot_f32)(dense_f32(a), dense_f32(b)),
            L1F32 => (k.l1_f32)(dense_f32(a), dense_f32(b)),
            L2F16 => (k.l2_squared_f16)(dense_f16(a), dense_f16(b)),
            IpF16 | CosineF16 => -(k.dot_f16)(dense_f16(a), dense_f16(b)),
            L1F16 => (k.l1_f16)(dense_f16(a), dense_f16(b)),
            L2Sparse => super::sparse::l2_squared(sparse(a), sparse(b)),
            IpSparse | CosineSparse => -super::sparse::dot(sparse(a), sparse(b)),
            L1Sparse => super::sparse::l1(sparse(a), sparse(b)),
            Hamming => (k.hamming)(bits(a), bits(b)) as f32,
            Jaccard => (k.jaccard)(bits(a), bits(b)).distance() as f32,
        }
    }

    /// Whether `v`'s header describes a value its bytes hold, suitably aligned — what
    /// [`Metric::distance`]'s slicing relies on (an image from an index page may be damaged).
    /// Cheap: the header's counts against the length, not the elements.
    #[inline]
    pub fn holds(self, v: &[u8]) -> bool {
        let at = |i: usize| {
            v.get(i..i + 4)
                .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
        };
        let aligned = |align: usize| (v.as_ptr() as usize).is_multiple_of(align);
        match self.kind() {
            ValueKind::DenseF32 | ValueKind::DenseF16 => {
                let width = if self.kind() == ValueKind::DenseF32 {
                    4
                } else {
                    2
                };
                v.len() >= 8 && aligned(width) && {
                    let dims = i16::from_ne_bytes([v[4], v[5]]);
                    dims >= 0 && 8 + width * dims as usize <= v.len()
                }
            }
            ValueKind::Sparse => match at(8) {
                Some(nnz) if nnz >= 0 => aligned(4) && 16 + 8 * nnz as usize <= v.len(),
                _ => false,
            },
            ValueKind::Bits => match at(4) {
                Some(bits) if bits >= 0 => 8 + (bits as usize).div_ceil(8) <= v.len(),
                _ => false,
            },
        }
    }

    /// Dimensions of a value image (bits for `bit`).
    pub fn dimensions(self, v: &[u8]) -> usize {
        match self.kind() {
            ValueKind::DenseF32 | ValueKind::DenseF16 => i16::from_ne_bytes([v[4], v[5]]) as usize,
            ValueKind::Sparse | ValueKind::Bits => {
                i32::from_ne_bytes([v[4], v[5], v[6], v[7]]) as usize
            }
        }
    }

    /// Whether the value has zero norm (cosine does not index those: no direction).
    pub fn is_zero(self, v: &[u8]) -> bool {
        match self.kind() {
            ValueKind::DenseF32 => dense_f32(v).iter().all(|x| *x == 0.0),
            ValueKind::DenseF16 => dense_f16(v).iter().all(|x| x.to_f32() == 0.0),
            ValueKind::Sparse => sparse(v).values.is_empty(),
            ValueKind::Bits => bits(v).iter().all(|b| *b == 0),
        }
    }

    /// The metric of fp16 copies of this metric's values ([`half_image`]) that an index build
    /// may choose its links by when the values are unit vectors
    /// (`graph::memory::MemoryGraph::link_in_low_precision`; cosine, L2 and inner-product
    /// graphs use int8 copies, [`int8_image`], so L1 graphs use these): dense `ruvector`
    /// metrics.
    ///
    /// Why unit vectors only: every component is then within ±1, where fp16 keeps 11
    /// significant bits (rounding error ≤ 2⁻¹² absolute, below 2⁻²⁵ for subnormals) and cannot
    /// overflow, and the kernels accumulate in f32, so a distance between two copies is
    /// typically within ~10⁻⁵ of the exact one — far below the gaps between neighbour
    /// distances the construction heuristic compares. Cosine values always are unit vectors
    /// (normalised before they are stored); embedding models' outputs usually are too, under
    /// any metric. Other values may be large or tightly clustered around a large offset, where
    /// fp16's relative precision would merge distinct distances.
    pub fn half_precision(self) -> Option<Metric> {
        match self {
            Metric::L2F32 => Some(Metric::L2F16),
            Metric::IpF32 => Some(Metric::IpF16),
            Metric::CosineF32 => Some(Metric::CosineF16),
            Metric::L1F32 => Some(Metric::L1F16),
            _ => None,
        }
    }

    /// Cosine sums of two images (used to report a cosine distance from stored unit vectors).
    pub fn cosine_sums(self, a: &[u8], b: &[u8]) -> CosineSums {
        let k = kernels();
        match self.kind() {
            ValueKind::DenseF32 => (k.cosine_f32)(dense_f32(a), dense_f32(b)),
            ValueKind::DenseF16 => (k.cosine_f16)(dense_f16(a), dense_f16(b)),
            ValueKind::Sparse => super::sparse::cosine(sparse(a), sparse(b)),
            ValueKind::Bits => CosineSums::default(),
        }
    }
}

/// The elements of a dense f32 image (header: int32 varlena, int16 dim, int16 unused).
#[inline]
pub fn dense_f32(v: &[u8]) -> &[f32] {
    let dim = i16::from_ne_bytes([v[4], v[5]]) as usize;
    bytemuck::cast_slice(&v[8..8 + 4 * dim])
}

#[inline]
pub fn dense_f16(v: &[u8]) -> &[f16] {
    let dim = i16::from_ne_bytes([v[4], v[5]]) as usize;
    bytemuck::cast_slice(&v[8..8 + 2 * dim])
}

/// A sparse image: int32 varlena, dim, nnz, unused, int32 indices[nnz], float4 values[nnz].
#[inline]
pub fn sparse(v: &[u8]) -> SparseRef<'_> {
    let nnz = i32::from_ne_bytes([v[8], v[9], v[10], v[11]]) as usize;
    SparseRef {
        indices: bytemuck::cast_slice(&v[16..16 + 4 * nnz]),
        values: bytemuck::cast_slice(&v[16 + 4 * nnz..16 + 8 * nnz]),
    }
}

/// A `bit` image: int32 varlena, int32 bit length, bytes.
#[inline]
pub fn bits(v: &[u8]) -> &[u8] {
    let len = i32::from_ne_bytes([v[4], v[5], v[6], v[7]]) as usize;
    &v[8..8 + len.div_ceil(8)]
}

/// Builds a dense f32 image (for tests and the pure build path).
pub fn dense_f32_image(x: &[f32]) -> Vec<u8> {
    let size = 8 + 4 * x.len();
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(&varlena_header(size));
    v.extend_from_slice(&(x.len() as i16).to_ne_bytes());
    v.extend_from_slice(&0i16.to_ne_bytes());
    v.extend_from_slice(bytemuck::cast_slice(x));
    v
}

/// Whether a dense f32 image is a unit vector (squared norm within 10⁻³ of 1, as an
/// embedding normalised in f32 is to ~10⁻⁷) — what a build asks of values before it links
/// by their int8 or fp16 copies (`graph::memory::MemoryGraph::link_in_low_precision`).
pub fn is_unit(image: &[u8]) -> bool {
    let x = dense_f32(image);
    ((kernels().dot_f32)(x, x) - 1.0).abs() <= 1e-3
}

/// The fp16 image (a `halfvec`'s layout) of a dense f32 image, each element rounded to the
/// nearest fp16 (the `half` crate converts with F16C instructions where the CPU has them),
/// into `out` (reused from call to call: no allocation once it has grown).
pub fn half_image(image: &[u8], out: &mut Vec<u8>) {
    use half::slice::HalfFloatSliceExt;
    let x = dense_f32(image);
    let size = half_image_len(x.len());
    out.clear();
    out.extend_from_slice(&varlena_header(size));
    out.extend_from_slice(&image[4..8]);
    let mut halves = [f16::ZERO; 64];
    for chunk in x.chunks(64) {
        let h = &mut halves[..chunk.len()];
        h.convert_from_f32_slice(chunk);
        out.extend_from_slice(bytemuck::cast_slice(h));
    }
}

/// Bytes of the [`half_image`] of a `dims`-dimensional value.
pub const fn half_image_len(dims: usize) -> usize {
    8 + 2 * dims
}

/// Bytes of the [`int8_image`] of a `dims`-dimensional value.
pub const fn int8_image_len(dims: usize) -> usize {
    8 + dims
}

/// The int8 copy of a dense f32 unit vector that a cosine, L2 or inner-product graph's links
/// are chosen by (`graph::memory::MemoryGraph::link_in_low_precision`), into `out` (reused
/// from call to call): `[i32 Σq²][i32 dims][q: i8 × dims]`, native byte order, where
/// `q[i] = round(127 · x[i] / max|x|)`. The scale is per vector and cancels in a cosine
/// ([`int8_cosine_distance`]), so it is not kept; Σq² is kept so that a distance needs one
/// dot product. A zero vector is all zeros.
pub fn int8_image(image: &[u8], out: &mut Vec<u8>) {
    let x = dense_f32(image);
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { 127.0 / max } else { 0.0 };
    out.clear();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(x.len() as i32).to_ne_bytes());
    out.extend(
        x.iter()
            .map(|v| (v * scale).round().clamp(-127.0, 127.0) as i8 as u8),
    );
    let codes: &[i8] = bytemuck::cast_slice(&out[8..]);
    let norm = (kernels().dot_i8)(codes, codes);
    out[..4].copy_from_slice(&norm.to_ne_bytes());
}

/// The cosine distance of two [`int8_image`]s in the form of [`Metric::CosineF32`]'s
/// (−cos, for unit vectors −a·b): −Σ q_a q_b / √(Σq_a² · Σq_b²), 0 when either is zero.
///
/// Why it can choose links: the components of a unit vector are within ±1 and an embedding's
/// largest is typically 0.1–0.3, so 8 bits per component keep each to within ~0.4% of the
/// largest; the dot product of 384 or 1536 such rounding errors, independent and of both
/// signs, moves a cosine by ~10⁻³ — below the gaps between the neighbour distances the
/// construction heuristic compares in these dimensions. Measured (serial builds, same graph
/// otherwise): recall@10 at `ef_search` 10–80 within ±0.0025 of fp16 links on glove-100k,
/// minilm-384-50k and minilm-1536-50k (README, "int8 links").
#[inline]
pub fn int8_cosine_distance(a: &[u8], b: &[u8]) -> f32 {
    let norm = |v: &[u8]| i32::from_ne_bytes([v[0], v[1], v[2], v[3]]) as f32;
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    let dot = (kernels().dot_i8)(bytemuck::cast_slice(&a[8..]), bytemuck::cast_slice(&b[8..]));
    -(dot as f32) / (na * nb).sqrt()
}

/// The size a 4-byte varlena header says (PostgreSQL's VARSIZE_4B; native byte order, as
/// PostgreSQL writes it); `None` for fewer than 4 bytes.
pub fn varlena_size(image: &[u8]) -> Option<usize> {
    let word = u32::from_ne_bytes(image.get(0..4)?.try_into().ok()?);
    Some(if cfg!(target_endian = "little") {
        (word >> 2) as usize
    } else {
        (word & 0x3FFF_FFFF) as usize
    })
}

/// A 4-byte varlena header for `size` bytes (PostgreSQL's SET_VARSIZE).
pub fn varlena_header(size: usize) -> [u8; 4] {
    if cfg!(target_endian = "little") {
        ((size as u32) << 2).to_ne_bytes()
    } else {
        ((size as u32) & 0x3FFF_FFFF).to_ne_bytes()
    }
}

/// Deterministic pseudo-random unit vectors as f32 images (an LCG from `seed`), `dim`
/// components each: the tests' data.
#[cfg(test)]
pub(crate) fn unit_vectors(mut seed: u64) -> impl FnMut(usize) -> Vec<u8> {
    move |dim| {
        let x: Vec<f32> = (0..dim)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        dense_f32_image(&x.iter().map(|a| a / n).collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    /// An int8 copy holds the codes of a unit vector scaled to ±127 and their norm, and gives
    /// cosine distances close to the exact ones; a zero vector's is zero.
    #[test]
    fn int8_images_give_cosine_distances() {
        use super::*;
        let mut unit = unit_vectors(7);
        let (mut qa, mut qb) = (Vec::new(), Vec::new());
        for dim in [3, 50, 384, 1536] {
            let (a, b) = (unit(dim), unit(dim));
            int8_image(&a, &mut qa);
            int8_image(&b, &mut qb);
            assert_eq!(qa.len(), 8 + dim);
            assert_eq!(i32::from_ne_bytes(qa[4..8].try_into().unwrap()), dim as i32);
            let codes: &[i8] = bytemuck::cast_slice(&qa[8..]);
            // The largest component becomes ±127; the stored norm is the codes' own.
            assert_eq!(codes.iter().map(|c| c.unsigned_abs()).max(), Some(127));
            let norm: i32 = codes.iter().map(|&c| c as i32 * c as i32).sum();
            assert_eq!(i32::from_ne_bytes(qa[..4].try_into().unwrap()), norm);
            let exact = Metric::CosineF32.distance(&a, &b);
            let got = int8_cosine_distance(&qa, &qb);
            assert!((got - exact).abs() < 0.02, "{dim}: {got} vs {exact}");
            assert!((int8_cosine_distance(&qa, &qa) + 1.0).abs() < 1e-6);
        }
        // A zero vector: all zero codes, distance 0 to anything (as −a·b).
        int8_image(&dense_f32_image(&[0.0; 4]), &mut qa);
        assert_eq!(qa[..4], [0; 4]);
        assert!(qa[8..].iter().all(|&c| c == 0));
        int8_image(&unit(4), &mut qb);
        assert_eq!(int8_cosine_distance(&qa, &qb), 0.0);
    }

    /// An f32 image's fp16 copy has a halfvec's layout, each element rounded to nearest; dense
    /// f32 metrics have an fp16 form, for unit vectors.
    #[test]
    fn half_image_rounds_each_element() {
        use super::*;
        let x = [1.0f32, -0.333_333_34, 1e-6, 0.0, 0.999_97, -1.0];
        let mut out = vec![7u8; 3];
        half_image(&dense_f32_image(&x), &mut out);
        assert_eq!(out.len(), 8 + 2 * x.len());
        assert_eq!(out[..4], varlena_header(out.len()));
        assert_eq!(i16::from_ne_bytes([out[4], out[5]]), x.len() as i16);
        let words: Vec<u16> = out
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        let want: Vec<u16> = x.iter().map(|&a| f16::from_f32(a).to_bits()).collect();
        assert_eq!(words[4..], want[..]);
        for m in Metric::ALL {
            let half = (m.kind() == ValueKind::DenseF32).then(|| Metric::from_u16(m as u16 + 10));
            assert_eq!(m.half_precision(), half.flatten(), "{m:?}");
        }
        assert!(is_unit(&dense_f32_image(&[0.6, -0.8, 0.0])));
        assert!(is_unit(&dense_f32_image(&[0.6, -0.8004])));
        assert!(!is_unit(&dense_f32_image(&[0.6, -0.801])));
        assert!(!is_unit(&dense_f32_image(&[0.0, 0.0])));
    }

    #[test]
    fn holds_rejects_what_distance_would_slice_past() {
        use super::*;
        let x = dense_f32_image(&[1.0, 2.0, 3.0]);
        // an aligned copy (Vec<u8> is not guaranteed 4-aligned)
        let words: Vec<u32> = x
            .chunks(4)
            .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        let image: &[u8] = bytemuck::cast_slice(&words);
        assert!(Metric::L2F32.holds(image));
        assert_eq!(Metric::L2F32.distance(image, image), 0.0);
        assert!(!Metric::L2F32.holds(&image[..image.len() - 4]));
        assert!(!Metric::L2F32.holds(&image[..6]));
        let mut big = words.clone();
        big[1] = u32::from_ne_bytes({
            let mut b = [0u8; 4];
            b[..2].copy_from_slice(&(-3i16).to_ne_bytes());
            b
        });
        assert!(!Metric::L2F32.holds(bytemuck::cast_slice(&big)));
        big[1] = 4;
        assert!(!Metric::L2F32.holds(bytemuck::cast_slice(&big)));
        // unaligned: one byte into a 4-aligned buffer
        let mut shifted = vec![0u32; words.len() + 1];
        bytemuck::cast_slice_mut::<u32, u8>(&mut shifted)[1..=image.len()].copy_from_slice(image);
        let shifted: &[u8] = bytemuck::cast_slice(&shifted);
        assert!(!Metric::L2F32.holds(&shifted[1..=image.len()]));
        // sparse: nnz beyond the bytes; bits: a negative length
        let mut sparse = vec![0u32; 4];
        sparse[2] = 1;
        assert!(!Metric::L2Sparse.holds(bytemuck::cast_slice(&sparse)));
        sparse[2] = 0;
        assert!(Metric::L2Sparse.holds(bytemuck::cast_slice(&sparse)));
        let bits = [0u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0];
        assert!(!Metric::Hamming.holds(&bits));
    }

    use super::*;

    #[test]
    fn dense_metrics() {
        let a = dense_f32_image(&[1.0, 2.0, 3.0]);
        let b = dense_f32_image(&[3.0, 2.0, 1.0]);
        assert_eq!(Metric::L2F32.distance(&a, &b), 8.0);
        assert_eq!(Metric::IpF32.distance(&a, &b), -10.0);
        assert_eq!(Metric::L1F32.distance(&a, &b), 4.0);
        assert_eq!(Metric::L2F32.dimensions(&a), 3);
        assert!(!Metric::CosineF32.is_zero(&a));
        assert!(Metric::CosineF32.is_zero(&dense_f32_image(&[0.0, 0.0])));
        for m in Metric::ALL {
            assert_eq!(Metric::from_u16(m as u16), Some(m));
        }
    }
}
