//! On-page format of a `ruivfflat` index.
//!
//! ```text
//! block 0        meta page: MetaPage in the contents area
//! block 1 …      list pages (chained): one list tuple per list, in list order
//!                  [start block u32][insert block u32][centre image …]
//! other blocks   data pages, one chain per list (from its start block):
//!                  [heap TID 6 bytes][key length u16][key blob, padded to 8][value image …]
//! ```
//!
//! The key blob (`crate::filter::keys`) holds the values of the index's key columns (format
//! version 3, indexes with columns after the vector); without key columns its length is 0 and
//! the value starts at offset 8, as in versions 1 and 2, whose tuples have zero there.
//!
//! Value and centre images are varlena images of the column type (normalised for cosine), at
//! offset 8 of a MAXALIGNed item, so the SIMD kernels read them in place. A list with no rows
//! has no data pages (start block invalid) until its first insert, so a large `lists` on an
//! empty table costs only list pages. `insert block` is a hint: a page of the list at or before
//! its last page; inserts follow the chain from there.

use crate::am::codebook::CodebookRef;
use crate::am::meta::MetaError;
use crate::am::page::{max_item_size, maxalign};
pub use crate::am::tid::Tid;
use crate::am::value::image_len;
use crate::kernels::metric::Metric;

pub const MAGIC: u32 = 0x5255_4956; // "RUIV"
/// Format version of unquantized indexes (unchanged since the first release).
pub const VERSION: u32 = 1;
/// Format version of quantized indexes: data tuples hold codes, the meta page a
/// [`CodebookRef`] (older binaries refuse these indexes instead of misreading them).
pub const VERSION_QUANTIZED: u32 = 2;
/// Format version of indexes with key columns: data tuples hold a key blob, the meta page its
/// layout (older binaries refuse these indexes instead of misreading them).
pub const VERSION_KEYS: u32 = 3;
/// Format version of indexes whose data or list tuples are longer than a page and stored in
/// parts (`super::parts`; full precision past ~2,000 `ruvector` / ~4,000 `halfvec`
/// dimensions), with or without keys and codes (older binaries refuse these indexes).
pub const VERSION_PARTS: u32 = 4;
/// The format versions this build reads (`am::meta`).
pub const VERSIONS: std::ops::RangeInclusive<u32> = VERSION..=VERSION_PARTS;

pub const META_BLKNO: u32 = 0;
/// First list page.
pub const LIST_HEAD_BLKNO: u32 = 1;

/// Page types (Opaque::page_type).
pub const PAGE_META: u8 = 1;
pub const PAGE_LIST: u8 = 2;
pub const PAGE_DATA: u8 = 3;

/// Bytes before the image in a list or data tuple.
pub const TUPLE_HEADER: usize = 8;

pub const INVALID_BLOCK: u32 = u32::MAX;

/// The meta page (block 0): build-time options and the value format.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaPage {
    pub magic: u32,
    pub version: u32,
    pub dimensions: u32,
    pub lists: u32,
    pub metric: u16,
    /// Value format of data tuples (0: the column's own image, 1: a code of `codebook`).
    pub format: u16,
    pub list_head: u32,
    /// The codebook of a quantized index (zero in version 1).
    pub codebook: CodebookRef,
    /// Key columns and the bytes of their key blob (zero before version 3).
    pub keys: u16,
    pub key_len: u16,
    /// The lists as the build left them: rows written and the largest list's rows (saturating;
    /// zero when not recorded — an empty table, or an index built before these fields, whose
    /// meta page has zeros here). Maintenance measures today's balance against it.
    pub built_rows: u32,
    pub built_largest: u32,
}

/// Bytes of a version 1 meta page.
const META_V1: usize = 24;
/// Bytes of a version 2 meta page.
const META_V2: usize = 44;

impl MetaPage {
    pub fn new(dimensions: u32, lists: u32, metric: Metric) -> MetaPage {
        let mut m = MetaPage {
            magic: MAGIC,
            version: VERSION,
            dimensions,
            lists,
            metric: metric as u16,
            format: 0,
            list_head: LIST_HEAD_BLKNO,
            codebook: CodebookRef::default(),
            keys: 0,
            key_len: 0,
            built_rows: 0,
            built_largest: 0,
        };
        m.settle();
        m
    }

    /// Records the list sizes a build wrote.
    pub fn set_built(&mut self, list_sizes: impl Iterator<Item = usize>) {
        let (mut rows, mut largest) = (0usize, 0usize);
        for n in list_sizes {
            rows = rows.saturating_add(n);
            largest = largest.max(n);
        }
        self.built_rows = rows.min(u32::MAX as usize) as u32;
        self.built_largest = largest.min(u32::MAX as usize) as u32;
    }

    /// The build's list sizes (rows, largest list), if recorded.
    pub fn built(&self) -> Option<crate::ivf::Built> {
        (self.built_rows > 0).then_some(crate::ivf::Built {
            rows: self.built_rows as u64,
            largest: self.built_largest as u64,
        })
    }

    /// Makes this a quantized index's meta page.
    pub fn set_codebook(&mut self, codebook: CodebookRef) {
        if self.version == VERSION {
            self.version = VERSION_QUANTIZED;
        }
        self.format = 1;
        self.codebook = codebook;
        self.settle();
    }

    /// Records the index's key columns (`count` of them, blobs of `len` bytes); an index with
    /// any has format version 3.
    pub fn set_keys(&mut self, count: usize, len: usize) {
        self.keys = count as u16;
        self.key_len = len as u16;
        if count > 0 && self.version < VERSION_KEYS {
            self.version = VERSION_KEYS;
        }
        self.settle();
    }

    /// Makes this a version 4 page if its tuples are stored in parts (every change of what
    /// a tuple holds calls it).
    fn settle(&mut self) {
        if self.data_parts() || self.list_parts() {
            self.version = VERSION_PARTS;
        }
    }

    /// Bytes of a data tuple of this index (every type with an IVF operator class has a fixed
    /// size per column).
    pub fn data_tuple_len(&self) -> usize {
        let dims = self.dimensions as usize;
        let value = match self.codebook.quantization().code_len(dims) {
            Some(code) => code,
            None => self.image_len(),
        };
        data_tuple_size(value, self.key_len as usize)
    }

    /// Bytes of a list tuple (its centre is a full image of the column type).
    pub fn list_tuple_len(&self) -> usize {
        TUPLE_HEADER + self.image_len()
    }

    fn image_len(&self) -> usize {
        let kind = self
            .metric()
            .map_or(crate::kernels::metric::ValueKind::DenseF32, |m| m.kind());
        image_len(kind, self.dimensions as usize).unwrap_or(0)
    }

    /// Whether data tuples are longer than an item and stored in parts.
    pub fn data_parts(&self) -> bool {
        self.data_tuple_len() > max_item_size()
    }

    /// Whether list tuples are longer than an item and stored in parts.
    pub fn list_parts(&self) -> bool {
        self.list_tuple_len() > max_item_size()
    }

    pub fn is_quantized(&self) -> bool {
        self.codebook.is_quantized()
    }

    pub fn metric(&self) -> Option<Metric> {
        Metric::from_u16(self.metric)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // SAFETY: a repr(C) struct of integers without padding (see the size test).
        unsafe {
            std::slice::from_raw_parts(
                (self as *const MetaPage).cast::<u8>(),
                std::mem::size_of::<MetaPage>(),
            )
        }
        .to_vec()
    }

    /// Reads and validates a meta page's contents.
    pub fn from_bytes(b: &[u8]) -> Result<MetaPage, MetaError> {
        let mut raw = [0u8; std::mem::size_of::<MetaPage>()];
        let n = b.len().min(raw.len());
        if n < META_V1 {
            return Err(MetaError::Damaged);
        }
        raw[..n].copy_from_slice(&b[..n]);
        // SAFETY: MetaPage is plain old data of that size; read unaligned.
        let mut m = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast::<MetaPage>()) };
        if m.magic != MAGIC {
            return Err(MetaError::Damaged);
        }
        match m.version {
            VERSION_PARTS
                if n == raw.len()
                    && (m.keys > 0) == (m.key_len > 0)
                    && (m.format == 1) == m.codebook.is_quantized() => {}
            VERSION => {
                m.codebook = CodebookRef::default();
                (m.keys, m.key_len) = (0, 0);
            }
            VERSION_QUANTIZED if n >= META_V2 && m.codebook.is_quantized() => {
                (m.keys, m.key_len) = (0, 0);
            }
            VERSION_KEYS
                if n == raw.len()
                    && m.keys > 0
                    && m.key_len > 0
                    && (m.format == 1) == m.codebook.is_quantized() => {}
            VERSION_QUANTIZED | VERSION_KEYS | VERSION_PARTS => return Err(MetaError::Damaged),
            v => return Err(MetaError::Version(v)),
        }
        // Tuples are in parts exactly in version 4 (their sizes follow from the fields above).
        let parts = m.data_parts() || m.list_parts();
        if m.metric().is_none() || parts != (m.version == VERSION_PARTS) {
            return Err(MetaError::Damaged);
        }
        Ok(m)
    }
}

/// A list tuple's header (the centre image follows it in the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListHeader {
    pub start: u32,
    pub insert: u32,
}

pub fn encode_list(header: ListHeader, centre: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TUPLE_HEADER + centre.len());
    out.extend_from_slice(&header.start.to_ne_bytes());
    out.extend_from_slice(&header.insert.to_ne_bytes());
    out.extend_from_slice(centre);
    out
}

/// A list tuple's header; `None` for an item too short to be a list tuple (damaged).
pub fn list_header(item: &[u8]) -> Option<ListHeader> {
    let word = |i: usize| Some(u32::from_ne_bytes(item.get(i..i + 4)?.try_into().ok()?));
    Some(ListHeader {
        start: word(0)?,
        insert: word(4)?,
    })
}

/// Writes a list header into an existing list tuple.
pub fn set_list_header(item: &mut [u8], header: ListHeader) {
    item[0..4].copy_from_slice(&header.start.to_ne_bytes());
    item[4..8].copy_from_slice(&header.insert.to_ne_bytes());
}

/// Bytes a key blob of `key_len` bytes takes in a data tuple (padded: the value after it stays
/// 8-aligned for the SIMD kernels).
pub fn key_area(key_len: usize) -> usize {
    key_len.div_ceil(8) * 8
}

/// Bytes of a data tuple with a value of `value_len` bytes and a key blob of `key_len`.
pub fn data_tuple_size(value_len: usize, key_len: usize) -> usize {
    TUPLE_HEADER + key_area(key_len) + value_len
}

pub fn encode_data(heap: Tid, keys: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; data_tuple_size(value.len(), keys.len())];
    heap.write(&mut out[0..6]);
    out[6..8].copy_from_slice(&(keys.len() as u16).to_ne_bytes());
    out[TUPLE_HEADER..TUPLE_HEADER + keys.len()].copy_from_slice(keys);
    out[TUPLE_HEADER + key_area(keys.len())..].copy_from_slice(value);
    out
}

/// A data tuple's heap TID (invalid for an item too short to hold one: a damaged tuple, whose
/// TID the scan's heap bound then refuses).
pub fn data_heap_tid(item: &[u8]) -> Tid {
    item.get(0..6).map_or(Tid::INVALID, Tid::read)
}

fn data_key_len(item: &[u8]) -> usize {
    item.get(6..8)
        .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]) as usize)
}

/// The key blob of a data tuple (empty without key columns, or if the tuple is too short to
/// hold the length it states: a damaged tuple, whose keys then match nothing).
pub fn data_keys(item: &[u8]) -> &[u8] {
    item.get(TUPLE_HEADER..TUPLE_HEADER + data_key_len(item))
        .unwrap_or(&[])
}

/// The value image of a data tuple.
pub fn data_image(item: &[u8]) -> &[u8] {
    item.get(TUPLE_HEADER + key_area(data_key_len(item))..)
        .unwrap_or(&[])
}

/// The centre image of a list tuple (empty for an item too short to hold one).
pub fn image(item: &[u8]) -> &[u8] {
    item.get(TUPLE_HEADER..).unwrap_or(&[])
}

/// Space a tuple of `len` bytes takes on a page, line pointer included.
pub fn tuple_footprint(len: usize) -> usize {
    maxalign(len) + std::mem::size_of::<u32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trip() {
        assert_eq!(std::mem::size_of::<MetaPage>(), META_V2 + 12);
        let m = MetaPage::new(50, 316, Metric::CosineF32);
        assert_eq!(MetaPage::from_bytes(&m.to_bytes()), Ok(m));
        // the build's list sizes: read back; absent (zeros) on pages written before them
        let mut b = m;
        b.set_built([3usize, 10, 0, 7].into_iter());
        assert_eq!((b.built_rows, b.built_largest), (20, 10));
        assert_eq!(MetaPage::from_bytes(&b.to_bytes()), Ok(b));
        assert_eq!(MetaPage::from_bytes(&b.to_bytes()[..META_V2 + 4]), Ok(m));
        assert_eq!(m.built(), None);
        // a version 1 page written before quantization existed
        assert_eq!(MetaPage::from_bytes(&m.to_bytes()[..META_V1]), Ok(m));
        let mut q = m;
        q.set_codebook(CodebookRef {
            quantization: 1,
            block: 9,
            len: 100,
            id: [1, 2],
        });
        assert_eq!(MetaPage::from_bytes(&q.to_bytes()), Ok(q));
        assert_eq!(
            MetaPage::from_bytes(&q.to_bytes()[..META_V1]),
            Err(MetaError::Damaged)
        );
        // a version 2 page written before key columns existed
        assert_eq!(MetaPage::from_bytes(&q.to_bytes()[..META_V2]), Ok(q));
        let mut k = m;
        k.set_keys(2, 17);
        assert_eq!(k.version, VERSION_KEYS);
        assert_eq!(MetaPage::from_bytes(&k.to_bytes()), Ok(k));
        assert_eq!(
            MetaPage::from_bytes(&k.to_bytes()[..META_V2]),
            Err(MetaError::Damaged)
        );
        let mut kq = k;
        kq.set_codebook(q.codebook);
        assert_eq!(kq.version, VERSION_KEYS);
        assert_eq!(MetaPage::from_bytes(&kq.to_bytes()), Ok(kq));
        let mut no_keys = k;
        no_keys.keys = 0;
        assert_eq!(
            MetaPage::from_bytes(&no_keys.to_bytes()),
            Err(MetaError::Damaged)
        );
        let mut bad = m.to_bytes();
        bad[0] ^= 1;
        assert_eq!(MetaPage::from_bytes(&bad), Err(MetaError::Damaged));
        let mut future = m;
        future.version = 5;
        assert_eq!(
            MetaPage::from_bytes(&future.to_bytes()),
            Err(MetaError::Version(5))
        );
    }

    #[test]
    fn tuples_longer_than_a_page_make_version_4() {
        // ruvector: 2,030 dimensions fit an item, 2,040 do not (centres nor rows).
        let fits = MetaPage::new(2030, 10, Metric::L2F32);
        assert_eq!((fits.version, fits.data_parts()), (VERSION, false));
        let v = MetaPage::new(2040, 10, Metric::L2F32);
        assert_eq!(
            (v.version, v.data_parts(), v.list_parts()),
            (VERSION_PARTS, true, true)
        );
        assert_eq!(MetaPage::from_bytes(&v.to_bytes()), Ok(v));
        // halfvec: twice the dimensions
        assert_eq!(MetaPage::new(4060, 10, Metric::L2F16).version, VERSION);
        assert_eq!(
            MetaPage::new(4080, 10, Metric::L2F16).version,
            VERSION_PARTS
        );
        // Keys push the rows over but not the centres.
        let mut k = MetaPage::new(2020, 10, Metric::L2F32);
        assert_eq!(k.version, VERSION);
        k.set_keys(1, 64);
        assert_eq!(
            (k.version, k.data_parts(), k.list_parts()),
            (VERSION_PARTS, true, false)
        );
        assert_eq!(MetaPage::from_bytes(&k.to_bytes()), Ok(k));
        // A quantized index: sq8 codes and centres in parts, version 4 with a codebook.
        let mut q = MetaPage::new(16_000, 10, Metric::CosineF32);
        q.set_codebook(CodebookRef {
            quantization: 1,
            block: 9,
            len: 100,
            id: [1, 2],
        });
        assert_eq!((q.version, q.list_parts()), (VERSION_PARTS, true));
        assert_eq!(MetaPage::from_bytes(&q.to_bytes()), Ok(q));
        // A version 4 page whose tuples fit, or an older version whose do not: damaged.
        let mut small = fits;
        small.version = VERSION_PARTS;
        assert_eq!(
            MetaPage::from_bytes(&small.to_bytes()),
            Err(MetaError::Damaged)
        );
        let mut old = v;
        old.version = VERSION;
        assert_eq!(
            MetaPage::from_bytes(&old.to_bytes()),
            Err(MetaError::Damaged)
        );
        assert_eq!(
            MetaPage::from_bytes(&v.to_bytes()[..META_V2]),
            Err(MetaError::Damaged)
        );
    }

    #[test]
    fn tuples_round_trip() {
        let l = encode_list(
            ListHeader {
                start: 7,
                insert: 9,
            },
            &[1, 2, 3],
        );
        assert_eq!(
            list_header(&l),
            Some(ListHeader {
                start: 7,
                insert: 9
            })
        );
        assert_eq!(image(&l), &[1, 2, 3]);
        // Too short for a header or a TID: refused, not read past.
        assert_eq!(list_header(&l[..7]), None);
        assert!(image(&l[..5]).is_empty());
        assert_eq!(data_heap_tid(&l[..5]), Tid::INVALID);
        let d = encode_data(Tid::new(70000, 12), &[], &[4, 5]);
        assert_eq!(data_heap_tid(&d), Tid::new(70000, 12));
        assert_eq!(data_image(&d), &[4, 5]);
        assert_eq!(data_keys(&d), &[] as &[u8]);
        let k = encode_data(Tid::new(3, 4), &[9; 9], &[4, 5]);
        assert_eq!(k.len(), 8 + 16 + 2);
        assert_eq!(data_heap_tid(&k), Tid::new(3, 4));
        assert_eq!(data_keys(&k), &[9; 9]);
        assert_eq!(data_image(&k), &[4, 5]);
        // a tuple too short for the key length it states
        assert_eq!(data_keys(&k[..12]), &[] as &[u8]);
        assert_eq!(data_image(&k[..12]), &[] as &[u8]);
    }
}
