//! Bit-vector kernels (Hamming and Jaccard over PostgreSQL `bit` data), 64 bits at a time.
//!
//! The bodies are `#[inline(always)]` so that a tier wrapping them in a
//! `#[target_feature(enable = "popcnt")]` function gets the hardware instruction.

use super::JaccardCounts;

#[inline(always)]
fn words(x: &[u8]) -> (impl Iterator<Item = u64> + '_, &[u8]) {
    let c = x.chunks_exact(8);
    let rest = c.remainder();
    (
        c.map(|w| u64::from_ne_bytes(w.try_into().expect("chunk of 8"))),
        rest,
    )
}

/// Number of differing bits over the common prefix of `a` and `b`.
#[inline(always)]
pub fn hamming_u64(a: &[u8], b: &[u8]) -> u64 {
    let n = a.len().min(b.len());
    let ((wa, ra), (wb, rb)) = (words(&a[..n]), words(&b[..n]));
    let mut d: u64 = wa.zip(wb).map(|(x, y)| (x ^ y).count_ones() as u64).sum();
    for (x, y) in ra.iter().zip(rb) {
        d += (x ^ y).count_ones() as u64;
    }
    d
}

/// `|a∧b|`, `|a|`, `|b|` over the common prefix of `a` and `b`.
#[inline(always)]
pub fn jaccard_u64(a: &[u8], b: &[u8]) -> JaccardCounts {
    let n = a.len().min(b.len());
    let ((wa, ra), (wb, rb)) = (words(&a[..n]), words(&b[..n]));
    let mut c = JaccardCounts::default();
    for (x, y) in wa.zip(wb) {
        c.both += (x & y).count_ones() as u64;
        c.a += x.count_ones() as u64;
        c.b += y.count_ones() as u64;
    }
    for (x, y) in ra.iter().zip(rb) {
        c.both += (x & y).count_ones() as u64;
        c.a += x.count_ones() as u64;
        c.b += y.count_ones() as u64;
    }
    c
}
