//! On-page format of a `ruivfflat` index.
//!
//! ```text
//! block 0        meta page: MetaPage in the contents area
//! block 1 …      list pages (chained): one list tuple per list, in list order
//!                  [start block u32][insert block u32][centre image …]
//! other blocks   data pages, one chain per list (from its start block):
//!                  [heap TID 6 bytes][2 unused][value image …]
//! ```
//!
//! Value and centre images are varlena images of the column type (normalised for cosine), at
//! offset 8 of a MAXALIGNed item, so the SIMD kernels read them in place. A list with no rows
//! has no data pages (start block invalid) until its first insert, so a large `lists` on an
//! empty table costs only list pages. `insert block` is a hint: a page of the list at or before
//! its last page; inserts follow the chain from there.

use crate::am::codebook::CodebookRef;
use crate::am::meta::MetaError;
use crate::am::page::maxalign;
pub use crate::am::tid::Tid;
use crate::kernels::metric::Metric;

pub const MAGIC: u32 = 0x5255_4956; // "RUIV"
/// Format version of unquantized indexes (unchanged since the first release).
pub const VERSION: u32 = 1;
/// Format version of quantized indexes: data tuples hold codes, the meta page a
/// [`CodebookRef`] (older binaries refuse these indexes instead of misreading them).
pub const VERSION_QUANTIZED: u32 = 2;
/// The format versions this build reads (`am::meta`).
pub const VERSIONS: std::ops::RangeInclusive<u32> = VERSION..=VERSION_QUANTIZED;

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
}

/// Bytes of a version 1 meta page.
const META_V1: usize = 24;

impl MetaPage {
    pub fn new(dimensions: u32, lists: u32, metric: Metric) -> MetaPage {
        MetaPage {
            magic: MAGIC,
            version: VERSION,
            dimensions,
            lists,
            metric: metric as u16,
            format: 0,
            list_head: LIST_HEAD_BLKNO,
            codebook: CodebookRef::default(),
        }
    }

    /// Makes this a quantized index's meta page.
    pub fn set_codebook(&mut self, codebook: CodebookRef) {
        self.version = VERSION_QUANTIZED;
        self.format = 1;
        self.codebook = codebook;
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
            VERSION => m.codebook = CodebookRef::default(),
            VERSION_QUANTIZED if n == raw.len() && m.codebook.is_quantized() => {}
            VERSION_QUANTIZED => return Err(MetaError::Damaged),
            v => return Err(MetaError::Version(v)),
        }
        m.metric().map(|_| m).ok_or(MetaError::Damaged)
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

pub fn list_header(item: &[u8]) -> ListHeader {
    ListHeader {
        start: u32::from_ne_bytes(item[0..4].try_into().expect("4 bytes")),
        insert: u32::from_ne_bytes(item[4..8].try_into().expect("4 bytes")),
    }
}

/// Writes a list header into an existing list tuple.
pub fn set_list_header(item: &mut [u8], header: ListHeader) {
    item[0..4].copy_from_slice(&header.start.to_ne_bytes());
    item[4..8].copy_from_slice(&header.insert.to_ne_bytes());
}

pub fn encode_data(heap: Tid, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; TUPLE_HEADER + value.len()];
    heap.write(&mut out[0..6]);
    out[TUPLE_HEADER..].copy_from_slice(value);
    out
}

pub fn data_heap_tid(item: &[u8]) -> Tid {
    Tid::read(&item[0..6])
}

/// The image in a list or data tuple.
pub fn image(item: &[u8]) -> &[u8] {
    &item[TUPLE_HEADER..]
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
        assert_eq!(std::mem::size_of::<MetaPage>(), META_V1 + 20);
        let m = MetaPage::new(50, 316, Metric::CosineF32);
        assert_eq!(MetaPage::from_bytes(&m.to_bytes()), Ok(m));
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
        let mut bad = m.to_bytes();
        bad[0] ^= 1;
        assert_eq!(MetaPage::from_bytes(&bad), Err(MetaError::Damaged));
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
            ListHeader {
                start: 7,
                insert: 9
            }
        );
        assert_eq!(image(&l), &[1, 2, 3]);
        let d = encode_data(Tid::new(70000, 12), &[4, 5]);
        assert_eq!(data_heap_tid(&d), Tid::new(70000, 12));
        assert_eq!(image(&d), &[4, 5]);
    }
}
