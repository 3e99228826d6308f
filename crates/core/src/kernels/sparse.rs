//! Sparse-vector kernels: a merge over two ascending index lists (pgvector's sparsevec
//! semantics; sums in `f32`). Only positions present in either vector contribute.

use super::CosineSums;

/// A sparse vector's non-zero entries: ascending 0-based `indices` and their `values`.
#[derive(Clone, Copy, Debug)]
pub struct SparseRef<'a> {
    pub indices: &'a [i32],
    pub values: &'a [f32],
}

/// Walks both entry lists in index order, calling `both(x, y)` where an index is in both,
/// `only_a(x)` / `only_b(y)` where it is in one.
#[inline(always)]
fn merge(
    a: SparseRef,
    b: SparseRef,
    mut both: impl FnMut(f32, f32),
    mut only_a: impl FnMut(f32),
    mut only_b: impl FnMut(f32),
) {
    let (mut i, mut j) = (0, 0);
    let (na, nb) = (a.indices.len(), b.indices.len());
    while i < na && j < nb {
        let (ia, ib) = (a.indices[i], b.indices[j]);
        if ia == ib {
            both(a.values[i], b.values[j]);
            i += 1;
            j += 1;
        } else if ia < ib {
            only_a(a.values[i]);
            i += 1;
        } else {
            only_b(b.values[j]);
            j += 1;
        }
    }
    a.values[i..na].iter().for_each(|&x| only_a(x));
    b.values[j..nb].iter().for_each(|&y| only_b(y));
}

pub fn l2_squared(a: SparseRef, b: SparseRef) -> f32 {
    let acc = std::cell::Cell::new(0.0f32);
    merge(
        a,
        b,
        |x, y| acc.set(acc.get() + (x - y) * (x - y)),
        |x| acc.set(acc.get() + x * x),
        |y| acc.set(acc.get() + y * y),
    );
    acc.get()
}

pub fn dot(a: SparseRef, b: SparseRef) -> f32 {
    let mut s = 0.0f32;
    merge(a, b, |x, y| s += x * y, |_| {}, |_| {});
    s
}

pub fn l1(a: SparseRef, b: SparseRef) -> f32 {
    let acc = std::cell::Cell::new(0.0f32);
    merge(
        a,
        b,
        |x, y| acc.set(acc.get() + (x - y).abs()),
        |x| acc.set(acc.get() + x.abs()),
        |y| acc.set(acc.get() + y.abs()),
    );
    acc.get()
}

/// Σ xᵢ² over the stored values (as pgvector: in `f32`).
pub fn norm_squared(values: &[f32]) -> f32 {
    // fold from +0.0 (`Sum` for floats starts at -0.0)
    values.iter().fold(0.0f32, |s, x| s + x * x)
}

pub fn cosine(a: SparseRef, b: SparseRef) -> CosineSums {
    CosineSums {
        dot: dot(a, b),
        norm_a: norm_squared(a.values),
        norm_b: norm_squared(b.values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(s: SparseRef, dim: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        for (i, x) in s.indices.iter().zip(s.values) {
            v[*i as usize] = *x;
        }
        v
    }

    #[test]
    fn matches_dense_definition() {
        let a = SparseRef {
            indices: &[0, 2, 5, 9],
            values: &[1.0, -2.0, 3.0, 4.0],
        };
        let b = SparseRef {
            indices: &[2, 3, 9],
            values: &[5.0, 1.5, -1.0],
        };
        let (da, db) = (dense(a, 10), dense(b, 10));
        let l2: f32 = da.iter().zip(&db).map(|(x, y)| (x - y) * (x - y)).sum();
        let ip: f32 = da.iter().zip(&db).map(|(x, y)| x * y).sum();
        let manhattan: f32 = da.iter().zip(&db).map(|(x, y)| (x - y).abs()).sum();
        assert_eq!(l2_squared(a, b), l2);
        assert_eq!(dot(a, b), ip);
        assert_eq!(l1(a, b), manhattan);
        assert_eq!(l2_squared(b, a), l2);
    }
}
