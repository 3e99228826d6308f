//! The key blob: the values of an element's key columns, in a fixed layout per index.
//!
//! ```text
//! [null bitmap: ceil(n / 8) bytes, bit i set = key i is NULL][key 0][key 1]...
//! ```
//! Integers (`int2`, `int4`, `int8`) are stored as `i64` — comparisons between the three are
//! exact, as in btree's `integer_ops` family; `uuid` as its 16 bytes; `text` as a 64-bit
//! FNV-1a hash of its bytes (fixed width whatever the length, so a blob never outgrows a page;
//! equal strings hash equal in a deterministic collation, and the rare collision is removed by
//! the heap recheck the scan then asks for). Byte order is the machine's, like every other
//! field of an index page.

/// How one key column is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `int2`, `int4`, `int8`: an `i64`.
    Int,
    /// `text`, `varchar`: the FNV-1a hash of the bytes ([`text_hash`]).
    Text,
    /// `uuid`: 16 bytes.
    Uuid,
}

impl KeyKind {
    /// Bytes of one stored value.
    pub fn width(self) -> usize {
        match self {
            KeyKind::Int | KeyKind::Text => 8,
            KeyKind::Uuid => 16,
        }
    }
}

/// One key value to store (`None` in a slice of them is NULL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyValue {
    Int(i64),
    /// The [`text_hash`] of a string.
    Text(u64),
    Uuid([u8; 16]),
}

/// 64-bit FNV-1a (Fowler, Noll, Vo; IETF draft-eastlake-fnv): a hash fixed by its
/// specification, so that values written by one build are found by every later one.
pub fn text_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A uuid folded into one word (its two halves XORed): how the key directory stores it. Lossy,
/// like text hashes: the element's own 16 bytes decide.
pub fn fold_uuid(u: &[u8]) -> u64 {
    let (a, b) = u.split_at(8);
    u64::from_ne_bytes(a.try_into().expect("8 bytes"))
        ^ u64::from_ne_bytes(b.try_into().expect("8 bytes"))
}

/// Where each key column sits in a key blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLayout {
    kinds: Vec<KeyKind>,
    offsets: Vec<usize>,
    len: usize,
}

impl KeyLayout {
    pub fn new(kinds: Vec<KeyKind>) -> KeyLayout {
        let mut at = kinds.len().div_ceil(8);
        let offsets = kinds
            .iter()
            .map(|k| {
                let o = at;
                at += k.width();
                o
            })
            .collect();
        KeyLayout {
            kinds,
            offsets,
            len: at,
        }
    }

    /// Key columns.
    pub fn count(&self) -> usize {
        self.kinds.len()
    }

    pub fn kind(&self, column: usize) -> KeyKind {
        self.kinds[column]
    }

    /// Bytes of a key blob (0 without key columns).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The blob of one row's keys (`values[i]` is key column `i`, `None` for NULL).
    pub fn encode(&self, values: &[Option<KeyValue>]) -> Vec<u8> {
        assert_eq!(values.len(), self.kinds.len(), "one value per key column");
        let mut out = vec![0u8; self.len];
        for (i, v) in values.iter().enumerate() {
            let at = self.offsets[i];
            match (v, self.kinds[i]) {
                (None, _) => out[i / 8] |= 1 << (i % 8),
                (Some(KeyValue::Int(x)), KeyKind::Int) => {
                    out[at..at + 8].copy_from_slice(&x.to_ne_bytes())
                }
                (Some(KeyValue::Text(h)), KeyKind::Text) => {
                    out[at..at + 8].copy_from_slice(&h.to_ne_bytes())
                }
                (Some(KeyValue::Uuid(u)), KeyKind::Uuid) => out[at..at + 16].copy_from_slice(u),
                (Some(v), k) => panic!("key value {v:?} stored in a {k:?} column"),
            }
        }
        out
    }

    /// Whether key `column` of `blob` is NULL. `blob` must be [`KeyLayout::len`] bytes.
    #[inline]
    pub fn is_null(&self, blob: &[u8], column: usize) -> bool {
        blob[column / 8] & (1 << (column % 8)) != 0
    }

    /// The 8 bytes of an `Int` or `Text` key as a `u64`/`i64` bit pattern.
    #[inline]
    pub fn word(&self, blob: &[u8], column: usize) -> u64 {
        let at = self.offsets[column];
        u64::from_ne_bytes(blob[at..at + 8].try_into().expect("8 bytes"))
    }

    /// The key of `column` as one word for the key directory's hash buckets (`None` for
    /// NULL): integers and text hashes as they are, a uuid folded ([`fold_uuid`]).
    #[inline]
    pub fn directory_word(&self, blob: &[u8], column: usize) -> Option<u64> {
        if self.is_null(blob, column) {
            return None;
        }
        Some(match self.kinds[column] {
            KeyKind::Int | KeyKind::Text => self.word(blob, column),
            KeyKind::Uuid => fold_uuid(self.uuid(blob, column)),
        })
    }

    /// The bytes of key `column` as stored (`None` for NULL): rows with equal keys have equal
    /// bytes (text keys: equal hashes).
    #[inline]
    pub fn key_bytes<'b>(&self, blob: &'b [u8], column: usize) -> Option<&'b [u8]> {
        if self.is_null(blob, column) {
            return None;
        }
        let at = self.offsets[column];
        Some(&blob[at..at + self.kinds[column].width()])
    }

    /// The 16 bytes of a `Uuid` key.
    #[inline]
    pub fn uuid<'b>(&self, blob: &'b [u8], column: usize) -> &'b [u8] {
        let at = self.offsets[column];
        &blob[at..at + 16]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trips() {
        let l = KeyLayout::new(vec![KeyKind::Int, KeyKind::Uuid, KeyKind::Text]);
        assert_eq!(l.len(), 1 + 8 + 16 + 8);
        let u = [7u8; 16];
        let b = l.encode(&[
            Some(KeyValue::Int(-5)),
            Some(KeyValue::Uuid(u)),
            Some(KeyValue::Text(text_hash(b"abc"))),
        ]);
        assert!(!l.is_null(&b, 0) && !l.is_null(&b, 1) && !l.is_null(&b, 2));
        assert_eq!(l.word(&b, 0) as i64, -5);
        assert_eq!(l.uuid(&b, 1), &u);
        assert_eq!(l.word(&b, 2), text_hash(b"abc"));
        assert_eq!(l.directory_word(&b, 0), Some(-5i64 as u64));
        assert_eq!(l.directory_word(&b, 1), Some(0));
        assert_eq!(l.directory_word(&b, 2), Some(text_hash(b"abc")));
        let n = l.encode(&[None, Some(KeyValue::Uuid(u)), None]);
        assert_eq!(l.directory_word(&n, 0), None);
        assert!(l.is_null(&n, 0) && !l.is_null(&n, 1) && l.is_null(&n, 2));
        // Nine keys need two bitmap bytes.
        assert_eq!(KeyLayout::new(vec![KeyKind::Int; 9]).len(), 2 + 72);
        assert_eq!(KeyLayout::new(vec![]).len(), 0);
    }

    #[test]
    fn text_hash_is_fnv1a() {
        // Reference values of the FNV-1a 64-bit specification.
        assert_eq!(text_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(text_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(text_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
