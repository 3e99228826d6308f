//! A conjunction of conditions on key columns, checked against key blobs.
//!
//! PostgreSQL hands an index scan its usable `WHERE` clauses as scan keys, ANDed: `col op
//! constant` (op one of btree's five strategies) and `col op ANY(array)` for `IN (...)`.
//! [`PredicateBuilder`] folds them per column into a range and/or a set of allowed values — so
//! `a >= 5 AND a <= 9 AND a IN (1, 7, 8)` becomes the set {7, 8} — and notices contradictions
//! and NULL constants (no row can match). NULL keys match nothing: every operator involved is
//! strict.

use super::keys::{fold_uuid, KeyKind, KeyLayout};

/// A btree comparison strategy (`<`, `<=`, `=`, `>=`, `>`: strategy numbers 1 to 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Cmp {
    /// The comparison of btree strategy number `n`.
    pub fn from_strategy(n: u16) -> Option<Cmp> {
        Some(match n {
            1 => Cmp::Lt,
            2 => Cmp::Le,
            3 => Cmp::Eq,
            4 => Cmp::Ge,
            5 => Cmp::Gt,
            _ => return None,
        })
    }
}

/// What one column's conditions allow so far.
#[derive(Clone, Debug, Default)]
struct Column {
    /// Integer range, inclusive (`i128` so that `< i64::MIN` needs no special case).
    lo: Option<i128>,
    hi: Option<i128>,
    /// Allowed values: integers as `i64` bit patterns or text hashes.
    words: Option<Vec<u64>>,
    uuids: Option<Vec<[u8; 16]>>,
}

/// Collects scan keys; [`PredicateBuilder::build`] gives the [`Predicate`].
pub struct PredicateBuilder {
    layout: KeyLayout,
    columns: Vec<Column>,
    never: bool,
}

fn intersect<T: Ord + Copy>(current: &mut Option<Vec<T>>, values: &[T]) {
    let mut v: Vec<T> = values.to_vec();
    v.sort_unstable();
    v.dedup();
    *current = Some(match current.take() {
        None => v,
        Some(old) => old
            .into_iter()
            .filter(|x| v.binary_search(x).is_ok())
            .collect(),
    });
}

impl PredicateBuilder {
    pub fn new(layout: KeyLayout) -> PredicateBuilder {
        PredicateBuilder {
            columns: vec![Column::default(); layout.count()],
            layout,
            never: false,
        }
    }

    /// No row can match (a NULL constant, an empty `IN` list).
    pub fn never(&mut self) {
        self.never = true;
    }

    /// `column cmp x` on an integer column.
    pub fn int(&mut self, column: usize, cmp: Cmp, x: i64) {
        let c = &mut self.columns[column];
        let x = x as i128;
        let lo = |c: &mut Column, v: i128| c.lo = Some(c.lo.map_or(v, |o| o.max(v)));
        let hi = |c: &mut Column, v: i128| c.hi = Some(c.hi.map_or(v, |o| o.min(v)));
        match cmp {
            Cmp::Lt => hi(c, x - 1),
            Cmp::Le => hi(c, x),
            Cmp::Eq => {
                lo(c, x);
                hi(c, x)
            }
            Cmp::Ge => lo(c, x),
            Cmp::Gt => lo(c, x + 1),
        }
    }

    /// `column cmp ANY(xs)` on an integer column (`IN (...)` is `= ANY`).
    pub fn int_any(&mut self, column: usize, cmp: Cmp, xs: &[i64]) {
        match (cmp, xs.iter().min(), xs.iter().max()) {
            (_, None, _) | (_, _, None) => self.never(),
            (Cmp::Eq, _, _) => {
                let words: Vec<u64> = xs.iter().map(|x| *x as u64).collect();
                intersect(&mut self.columns[column].words, &words);
            }
            (Cmp::Lt | Cmp::Le, _, Some(&max)) => self.int(column, cmp, max),
            (Cmp::Gt | Cmp::Ge, Some(&min), _) => self.int(column, cmp, min),
        }
    }

    /// `column = ANY(hashes)` on a text column (one hash for `=`).
    pub fn text_in(&mut self, column: usize, hashes: &[u64]) {
        if hashes.is_empty() {
            return self.never();
        }
        intersect(&mut self.columns[column].words, hashes);
    }

    /// `column = ANY(uuids)` on a uuid column (one value for `=`).
    pub fn uuid_in(&mut self, column: usize, uuids: &[[u8; 16]]) {
        if uuids.is_empty() {
            return self.never();
        }
        intersect(&mut self.columns[column].uuids, uuids);
    }

    pub fn build(self) -> Predicate {
        let mut tests = Vec::new();
        let mut never = self.never;
        let mut lossy = false;
        for (i, c) in self.columns.into_iter().enumerate() {
            let kind = self.layout.kind(i);
            let (lo, hi) = (
                c.lo.unwrap_or(i64::MIN as i128),
                c.hi.unwrap_or(i64::MAX as i128),
            );
            if let Some(uuids) = c.uuids {
                never |= uuids.is_empty();
                tests.push(Test::Uuids(i, uuids));
            }
            if let Some(mut words) = c.words {
                if kind == KeyKind::Int {
                    words.retain(|w| (lo..=hi).contains(&(*w as i64 as i128)));
                    words.sort_unstable_by_key(|w| *w as i64);
                } else {
                    lossy = true;
                }
                never |= words.is_empty();
                tests.push(Test::Words(i, words));
            } else if c.lo.is_some() || c.hi.is_some() {
                never |= lo > hi;
                tests.push(Test::Range(i, lo as i64, hi as i64));
            }
        }
        Predicate {
            layout: self.layout,
            tests,
            never,
            lossy,
        }
    }
}

/// One column's test.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Test {
    /// Integer key in `lo..=hi`.
    Range(usize, i64, i64),
    /// Key word (integer bits, or text hash) in a sorted set (integers sorted as `i64`).
    Words(usize, Vec<u64>),
    /// Uuid key in a sorted set.
    Uuids(usize, Vec<[u8; 16]>),
}

/// Integer ranges of fewer values than this are probed as equality sets (`=` is a range of one
/// value): looking up each value's bucket beats reading every bucket of the column.
const LOOKUP_RANGE: i128 = 16;

/// One column's test seen from the key directory, which stores each key as one word
/// ([`KeyLayout::directory_word`]): the words to look up (an equality set) or a range to scan
/// for. A probe may accept a word whose row fails the test (text hashes, folded uuids): the
/// element's own keys decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub column: usize,
    /// The words of an equality set, sorted; `None` for a range.
    words: Option<Vec<u64>>,
    lo: i64,
    hi: i64,
}

impl Probe {
    /// The words to look up, if the test is an equality set.
    pub fn words(&self) -> Option<&[u64]> {
        self.words.as_deref()
    }

    /// Whether a row whose directory word is `w` may pass the test.
    #[inline]
    pub fn accepts(&self, w: u64) -> bool {
        match &self.words {
            Some(set) => set.binary_search(&w).is_ok(),
            None => (self.lo..=self.hi).contains(&(w as i64)),
        }
    }
}

/// The conditions a row's keys must meet.
#[derive(Clone, Debug)]
pub struct Predicate {
    layout: KeyLayout,
    tests: Vec<Test>,
    never: bool,
    lossy: bool,
}

impl Predicate {
    /// No row matches: the scan can return nothing without reading the index.
    pub fn is_never(&self) -> bool {
        self.never
    }

    /// No condition at all (every row matches).
    pub fn is_always(&self) -> bool {
        !self.never && self.tests.is_empty()
    }

    /// Whether a match may be a false positive (a text hash collision), so the heap row must
    /// be rechecked against the original clauses.
    pub fn is_lossy(&self) -> bool {
        self.lossy
    }

    /// One [`Probe`] per column with a condition: a row passes only if it passes each.
    pub fn probes(&self) -> Vec<Probe> {
        self.tests
            .iter()
            .map(|t| {
                let (column, words, lo, hi) = match t {
                    // A short range (`=` is one of length 1) is looked up value by value.
                    Test::Range(c, lo, hi) if (*hi as i128 - *lo as i128) < LOOKUP_RANGE => {
                        (*c, Some((*lo..=*hi).map(|x| x as u64).collect()), 0, 0)
                    }
                    Test::Range(c, lo, hi) => (*c, None, *lo, *hi),
                    Test::Words(c, set) => (*c, Some(set.clone()), 0, 0),
                    Test::Uuids(c, set) => {
                        (*c, Some(set.iter().map(|u| fold_uuid(u)).collect()), 0, 0)
                    }
                };
                let words = words.map(|mut w: Vec<u64>| {
                    w.sort_unstable();
                    w.dedup();
                    w
                });
                Probe {
                    column,
                    words,
                    lo,
                    hi,
                }
            })
            .collect()
    }

    /// The columns whose condition is a small set of values (`=`, `IN`, a range of fewer
    /// than 16 integers), in column order: a walk filtered by it can follow the key links of
    /// those columns (the subgraphs of each allowed value).
    pub fn equality_columns(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .probes()
            .into_iter()
            .filter(|p| p.words.is_some())
            .map(|p| p.column)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `column = (the key of `blob` in that column)`: the filter of the elements that share
    /// an element's key (`None` when that key is NULL).
    pub fn same_key(layout: &KeyLayout, blob: &[u8], column: usize) -> Option<Predicate> {
        if blob.len() != layout.len() || layout.is_null(blob, column) {
            return None;
        }
        let mut b = PredicateBuilder::new(layout.clone());
        match layout.kind(column) {
            KeyKind::Int => b.int(column, Cmp::Eq, layout.word(blob, column) as i64),
            KeyKind::Text => b.text_in(column, &[layout.word(blob, column)]),
            KeyKind::Uuid => {
                let u: [u8; 16] = layout.uuid(blob, column).try_into().expect("16 bytes");
                b.uuid_in(column, &[u]);
            }
        }
        Some(b.build())
    }

    /// Whether the key blob `blob` meets every condition (false for a blob of the wrong
    /// size, as a damaged tuple's would be).
    #[inline]
    pub fn matches(&self, blob: &[u8]) -> bool {
        if self.never || blob.len() != self.layout.len() {
            return false;
        }
        let l = &self.layout;
        self.tests.iter().all(|t| match t {
            Test::Range(c, lo, hi) => {
                !l.is_null(blob, *c) && (*lo..=*hi).contains(&(l.word(blob, *c) as i64))
            }
            Test::Words(c, set) => {
                if l.is_null(blob, *c) {
                    return false;
                }
                let w = l.word(blob, *c);
                match l.kind(*c) {
                    KeyKind::Int => set.binary_search_by_key(&(w as i64), |x| *x as i64).is_ok(),
                    _ => set.binary_search(&w).is_ok(),
                }
            }
            Test::Uuids(c, set) => {
                !l.is_null(blob, *c)
                    && set
                        .binary_search_by(|u| u[..].cmp(l.uuid(blob, *c)))
                        .is_ok()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::keys::{text_hash, KeyValue};

    fn layout() -> KeyLayout {
        KeyLayout::new(vec![KeyKind::Int, KeyKind::Text, KeyKind::Uuid])
    }

    fn row(a: Option<i64>, t: Option<&str>, u: Option<u8>) -> Vec<u8> {
        layout().encode(&[
            a.map(KeyValue::Int),
            t.map(|s| KeyValue::Text(text_hash(s.as_bytes()))),
            u.map(|b| KeyValue::Uuid([b; 16])),
        ])
    }

    #[test]
    fn ranges_and_sets_fold_per_column() {
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Ge, 5);
        b.int(0, Cmp::Le, 9);
        b.int_any(0, Cmp::Eq, &[1, 7, 8, 8]);
        let p = b.build();
        assert!(!p.is_never() && !p.is_lossy());
        let hits: Vec<i64> = (-3..15)
            .filter(|&a| p.matches(&row(Some(a), None, None)))
            .collect();
        assert_eq!(hits, vec![7, 8]);
        assert!(
            !p.matches(&row(None, None, None)),
            "NULL keys match nothing"
        );

        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Gt, -2);
        b.int(0, Cmp::Lt, 3);
        let p = b.build();
        let hits: Vec<i64> = (-5..5)
            .filter(|&a| p.matches(&row(Some(a), None, None)))
            .collect();
        assert_eq!(hits, vec![-1, 0, 1, 2]);
    }

    #[test]
    fn extremes_and_contradictions() {
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Lt, i64::MIN);
        assert!(b.build().is_never());
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Gt, i64::MAX);
        assert!(b.build().is_never());
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Le, i64::MAX);
        let p = b.build();
        assert!(p.matches(&row(Some(i64::MAX), None, None)));
        assert!(p.matches(&row(Some(i64::MIN), None, None)));
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Eq, 3);
        b.int(0, Cmp::Eq, 4);
        assert!(b.build().is_never());
        let mut b = PredicateBuilder::new(layout());
        b.int_any(0, Cmp::Eq, &[]);
        assert!(b.build().is_never());
        let mut b = PredicateBuilder::new(layout());
        b.int_any(0, Cmp::Lt, &[3, 10]);
        let p = b.build();
        assert!(p.matches(&row(Some(9), None, None)) && !p.matches(&row(Some(10), None, None)));
        assert!(PredicateBuilder::new(layout()).build().is_always());
    }

    #[test]
    fn text_and_uuid_sets() {
        let mut b = PredicateBuilder::new(layout());
        b.text_in(1, &[text_hash(b"red"), text_hash(b"blue")]);
        b.uuid_in(2, &[[3; 16], [1; 16]]);
        let p = b.build();
        assert!(p.is_lossy());
        assert!(p.matches(&row(None, Some("red"), Some(1))));
        assert!(p.matches(&row(Some(0), Some("blue"), Some(3))));
        assert!(!p.matches(&row(None, Some("green"), Some(1))));
        assert!(!p.matches(&row(None, Some("red"), Some(2))));
        assert!(!p.matches(&row(None, None, Some(1))));
        // A blob of the wrong size (damaged tuple) never matches.
        assert!(!p.matches(&[0u8; 3]));
        let mut b = PredicateBuilder::new(layout());
        b.text_in(1, &[text_hash(b"red")]);
        b.text_in(1, &[text_hash(b"blue")]);
        assert!(b.build().is_never());
    }

    #[test]
    fn probes_accept_what_the_rows_hold() {
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Ge, -2);
        b.int(0, Cmp::Lt, 3);
        b.text_in(1, &[text_hash(b"red"), text_hash(b"blue")]);
        b.uuid_in(2, &[[3; 16], [1; 16]]);
        let probes = b.build().probes();
        assert_eq!(probes.len(), 3);
        let l = layout();
        // Every row that passes a column's test is accepted by its probe, on the word the
        // directory stores; ranges are scans, equality sets are lookups.
        for (a, t, u) in [(-2, "red", 3u8), (2, "blue", 1)] {
            let r = row(Some(a), Some(t), Some(u));
            for p in &probes {
                assert!(p.accepts(l.directory_word(&r, p.column).unwrap()), "{p:?}");
            }
        }
        let r = row(Some(3), Some("green"), Some(2));
        for p in &probes {
            let mut u = [2u8; 16];
            u[0] = 9;
            let w = match p.column {
                2 => fold_uuid(&u),
                c => l.directory_word(&r, c).unwrap(),
            };
            assert!(!p.accepts(w), "{p:?}");
        }
        // A short range is looked up value by value (words sorted as words).
        let short = [0, 1, 2, -2i64 as u64, -1i64 as u64];
        assert_eq!(probes[0].words(), Some(&short[..]));
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Ge, 10);
        let p = &b.build().probes()[0];
        assert!(p.words().is_none() && p.accepts(10) && p.accepts(1 << 40) && !p.accepts(9));
        let mut b = PredicateBuilder::new(layout());
        b.int(0, Cmp::Eq, 7);
        assert_eq!(b.build().probes()[0].words(), Some(&[7u64][..]));
        assert_eq!(probes[1].words().map(|w| w.len()), Some(2));
        // Negative integers: the equality set is sorted by the word, not the integer.
        let mut b = PredicateBuilder::new(layout());
        b.int_any(0, Cmp::Eq, &[-1, 5]);
        let p = &b.build().probes()[0];
        assert!(p.accepts(-1i64 as u64) && p.accepts(5) && !p.accepts(4));
    }

    #[test]
    fn equality_columns_and_same_key() {
        let l = KeyLayout::new(vec![
            KeyKind::Int,
            KeyKind::Text,
            KeyKind::Int,
            KeyKind::Uuid,
        ]);
        let mut b = PredicateBuilder::new(l.clone());
        b.int(0, Cmp::Ge, 3);
        b.int(0, Cmp::Le, 5);
        b.text_in(1, &[7]);
        b.int(2, Cmp::Gt, 100);
        assert_eq!(b.build().equality_columns(), vec![0, 1]);
        let u = [3u8; 16];
        let blob = l.encode(&[
            Some(KeyValue::Int(-4)),
            Some(KeyValue::Text(text_hash(b"x"))),
            None,
            Some(KeyValue::Uuid(u)),
        ]);
        for c in [0, 1, 3] {
            let p = Predicate::same_key(&l, &blob, c).unwrap();
            assert!(p.matches(&blob));
            assert_eq!(p.equality_columns(), vec![c]);
        }
        assert!(Predicate::same_key(&l, &blob, 2).is_none());
        let other = l.encode(&[
            Some(KeyValue::Int(4)),
            Some(KeyValue::Text(text_hash(b"y"))),
            None,
            Some(KeyValue::Uuid([4u8; 16])),
        ]);
        for c in [0, 1, 3] {
            assert!(!Predicate::same_key(&l, &blob, c).unwrap().matches(&other));
        }
        assert_eq!(l.key_bytes(&blob, 0), Some(&(-4i64).to_ne_bytes()[..]));
        assert_eq!(l.key_bytes(&blob, 2), None);
    }
}
