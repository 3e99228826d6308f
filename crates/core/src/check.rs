//! The pure parts of `ruvector_index_check()` (`crate::am::check`): the findings it collects,
//! the validation of stored value images, and the Bloom filter of its `heapallindexed` pass.

use crate::kernels::metric::ValueKind;

/// Findings an index check lists; beyond this it only counts them (a badly damaged index
/// would otherwise produce a report as large as itself).
pub const MAX_LISTED: usize = 1000;

/// One problem found, where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub block: Option<u32>,
    pub offset: Option<u16>,
    pub problem: String,
}

/// What an index check found: problems (the index is damaged) and warnings (it is usable but
/// not as good as it should be, e.g. elements no search reaches).
#[derive(Default, Debug)]
pub struct Findings {
    pub problems: Vec<Finding>,
    pub problem_count: u64,
    pub warnings: Vec<Finding>,
    pub warning_count: u64,
}

impl Findings {
    /// Records a problem at `block`/`offset` (either may be unknown).
    pub fn problem(&mut self, block: Option<u32>, offset: Option<u16>, problem: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(Finding {
                block,
                offset,
                problem: problem.into(),
            });
        }
    }

    /// Records a problem with an item.
    pub fn at(&mut self, block: u32, offset: u16, problem: impl Into<String>) {
        self.problem(Some(block), Some(offset), problem)
    }

    /// Records a problem with a page.
    pub fn page(&mut self, block: u32, problem: impl Into<String>) {
        self.problem(Some(block), None, problem)
    }

    /// Records a warning.
    pub fn warn(&mut self, block: Option<u32>, offset: Option<u16>, warning: impl Into<String>) {
        self.warning_count += 1;
        if self.warnings.len() < MAX_LISTED {
            self.warnings.push(Finding {
                block,
                offset,
                problem: warning.into(),
            });
        }
    }

    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// What is wrong with a value image an index stores for a column of `kind` with `dims`
/// dimensions (`None`: nothing). Images are the column type's varlena bytes: `vector` and
/// `halfvec` `[size][dims u16][0 u16][elements]`, `sparsevec` `[size][dims][nnz][0][indices]
/// [values]`, `bit` `[size][bits][bytes]`. Elements must be finite (no type admits NaN or
/// infinity), sparse indices increasing and below the dimensions, sparse values non-zero.
pub fn image_problem(kind: ValueKind, dims: usize, image: &[u8]) -> Option<String> {
    if image.len() < 8 {
        return Some(format!("value image of {} bytes is too short", image.len()));
    }
    let size = crate::kernels::metric::varlena_size(image)?;
    if size != image.len() {
        return Some(format!(
            "value image header says {size} bytes, the image has {}",
            image.len()
        ));
    }
    let expected = |len: usize| {
        (image.len() != len)
            .then(|| format!("value image has {} bytes, {len} expected", image.len()))
    };
    match kind {
        ValueKind::DenseF32 | ValueKind::DenseF16 => {
            let d = u16::from_ne_bytes([image[4], image[5]]) as usize;
            if d != dims {
                return Some(format!("value has {d} dimensions, the index {dims}"));
            }
            let width = if kind == ValueKind::DenseF32 { 4 } else { 2 };
            if let Some(p) = expected(8 + width * dims) {
                return Some(p);
            }
            let finite = if kind == ValueKind::DenseF32 {
                image[8..]
                    .chunks_exact(4)
                    .all(|c| f32::from_ne_bytes(c.try_into().expect("4 bytes")).is_finite())
            } else {
                image[8..]
                    .chunks_exact(2)
                    .all(|c| half::f16::from_ne_bytes([c[0], c[1]]).is_finite())
            };
            (!finite).then(|| "value has an element that is NaN or infinite".to_string())
        }
        ValueKind::Bits => {
            let bits = i32_at(image, 4);
            if bits < 0 || bits as usize != dims {
                return Some(format!("value has {bits} bits, the index {dims}"));
            }
            expected(8 + dims.div_ceil(8))
        }
        ValueKind::Sparse => {
            if image.len() < 16 {
                return Some(format!("value image of {} bytes is too short", image.len()));
            }
            let (d, nnz) = (i32_at(image, 4), i32_at(image, 8));
            if d < 0 || d as usize != dims {
                return Some(format!("value has {d} dimensions, the index {dims}"));
            }
            if nnz < 0 || nnz > d {
                return Some(format!("value has {nnz} non-zero elements of {d}"));
            }
            let nnz = nnz as usize;
            if let Some(p) = expected(16 + 8 * nnz) {
                return Some(p);
            }
            let indices = (0..nnz).map(|i| i32_at(image, 16 + 4 * i));
            let mut last = -1i64;
            for i in indices {
                if (i as i64) <= last || i >= d {
                    return Some(format!(
                        "value's indices are not increasing within its dimensions ({i} after {last})"
                    ));
                }
                last = i as i64;
            }
            let values = image[16 + 4 * nnz..]
                .chunks_exact(4)
                .map(|c| f32::from_ne_bytes(c.try_into().expect("4 bytes")));
            for v in values {
                if !v.is_finite() || v == 0.0 {
                    return Some(format!("value has a stored element {v}"));
                }
            }
            None
        }
    }
}

/// A Bloom filter of 64-bit keys (heap TIDs): `k` bit positions per key from one 64-bit mix by
/// double hashing (Kirsch and Mitzenmacher, "Less Hashing, Same Performance", ESA 2006), as
/// PostgreSQL's `lib/bloomfilter.c` that amcheck's `heapallindexed` uses.
pub struct Bloom {
    bits: Vec<u64>,
    mask: u64,
    k: u32,
}

impl Bloom {
    /// A filter for about `elements` keys within `bytes` bytes (a power of two, at least 1 kB):
    /// about 10 bits per key when the budget allows (1% false positives), fewer otherwise;
    /// the number of hash functions follows the bits per key (`ln 2 · bits / key`).
    pub fn new(elements: u64, bytes: usize) -> Bloom {
        let want_bits = (elements.max(1) * 10).next_power_of_two();
        let budget_bits = ((bytes.max(1024) as u64) * 8).next_power_of_two() / 2;
        let nbits = want_bits.min(budget_bits.max(8192));
        let per_key = nbits as f64 / elements.max(1) as f64;
        let k = ((per_key * std::f64::consts::LN_2).round() as u32).clamp(1, 10);
        Bloom {
            bits: vec![0; (nbits / 64) as usize],
            mask: nbits - 1,
            k,
        }
    }

    fn positions(&self, key: u64) -> impl Iterator<Item = u64> + '_ {
        // splitmix64's finaliser: two independent-looking halves from one key.
        let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let (h1, h2) = (z & 0xFFFF_FFFF, (z >> 32) | 1);
        (0..self.k as u64).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & self.mask)
    }

    pub fn insert(&mut self, key: u64) {
        let positions: Vec<u64> = self.positions(key).collect();
        for p in positions {
            self.bits[(p / 64) as usize] |= 1 << (p % 64);
        }
    }

    /// False only if `key` was certainly never inserted.
    pub fn may_contain(&self, key: u64) -> bool {
        self.positions(key)
            .all(|p| self.bits[(p / 64) as usize] & (1 << (p % 64)) != 0)
    }

    /// Bits the filter has.
    pub fn bits(&self) -> u64 {
        self.mask + 1
    }

    /// Share of bits set (reported: a filter much fuller than half misses more).
    pub fn fill(&self) -> f64 {
        let set: u64 = self.bits.iter().map(|w| w.count_ones() as u64).sum();
        set as f64 / self.bits() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(dims: u16, xs: &[f32]) -> Vec<u8> {
        let len = 8 + 4 * xs.len();
        let mut b = ((len as u32) << 2).to_ne_bytes().to_vec();
        b.extend_from_slice(&dims.to_ne_bytes());
        b.extend_from_slice(&[0, 0]);
        for x in xs {
            b.extend_from_slice(&x.to_ne_bytes());
        }
        b
    }

    fn sparse(dims: i32, entries: &[(i32, f32)]) -> Vec<u8> {
        let len = 16 + 8 * entries.len();
        let mut b = ((len as u32) << 2).to_ne_bytes().to_vec();
        for v in [dims, entries.len() as i32, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        for (i, _) in entries {
            b.extend_from_slice(&i.to_ne_bytes());
        }
        for (_, v) in entries {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b
    }

    #[test]
    fn images_are_validated() {
        let ok = dense(3, &[1.0, 2.0, 3.0]);
        assert_eq!(image_problem(ValueKind::DenseF32, 3, &ok), None);
        assert!(image_problem(ValueKind::DenseF32, 4, &ok)
            .unwrap()
            .contains("3 dimensions, the index 4"));
        assert!(image_problem(ValueKind::DenseF32, 3, &ok[..12])
            .unwrap()
            .contains("header says 20 bytes"));
        let nan = dense(3, &[1.0, f32::NAN, 3.0]);
        assert!(image_problem(ValueKind::DenseF32, 3, &nan)
            .unwrap()
            .contains("NaN"));
        let s = sparse(10, &[(1, 0.5), (7, 2.0)]);
        assert_eq!(image_problem(ValueKind::Sparse, 10, &s), None);
        let unsorted = sparse(10, &[(7, 0.5), (1, 2.0)]);
        assert!(image_problem(ValueKind::Sparse, 10, &unsorted)
            .unwrap()
            .contains("not increasing"));
        let outside = sparse(10, &[(1, 0.5), (10, 2.0)]);
        assert!(image_problem(ValueKind::Sparse, 10, &outside).is_some());
        assert!(image_problem(ValueKind::Sparse, 10, &[0u8; 5]).is_some());
        let mut bits = ((10u32) << 2).to_ne_bytes().to_vec();
        bits.extend_from_slice(&12i32.to_ne_bytes());
        bits.extend_from_slice(&[0xFF, 0xF0]);
        assert_eq!(image_problem(ValueKind::Bits, 12, &bits), None);
        assert!(image_problem(ValueKind::Bits, 16, &bits).is_some());
    }

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let mut b = Bloom::new(100_000, 1 << 20);
        for i in 0..100_000u64 {
            b.insert(i << 16 | 7);
        }
        assert!((0..100_000u64).all(|i| b.may_contain(i << 16 | 7)));
        let false_positives = (0..100_000u64)
            .filter(|i| b.may_contain(i << 16 | 8))
            .count();
        assert!(false_positives < 2_000, "{false_positives}");
        assert!(b.fill() > 0.2 && b.fill() < 0.7, "{}", b.fill());
        // A small budget still works, with more false positives.
        let mut small = Bloom::new(100_000, 1024);
        small.insert(5);
        assert!(small.may_contain(5));
        assert_eq!(small.bits(), 8192);
    }

    #[test]
    fn findings_are_capped_but_counted() {
        let mut f = Findings::default();
        assert!(f.ok());
        for i in 0..(MAX_LISTED as u32 + 5) {
            f.at(i, 1, "x");
        }
        f.warn(None, None, "w");
        assert!(!f.ok());
        assert_eq!(f.problems.len(), MAX_LISTED);
        assert_eq!(f.problem_count, MAX_LISTED as u64 + 5);
        assert_eq!(f.warning_count, 1);
    }
}
