//! On-page format of a `ruhnsw` index (format version 1).
//!
//! ```text
//! block 0          meta page: MetaPage struct in the contents area
//! blocks 1..       element pages, chained through Opaque::next_blkno, holding
//!   element tuple   (24-byte header, the value's varlena image, then the other heap TIDs)
//!   neighbor tuple  (4-byte header, then (level + 2) * m index TIDs: 2m for layer 0,
//!                    m for each layer above, then key_m per key column with key links
//!                    (`Shape`); unused slots hold an invalid TID; in format version 5, then
//!                    one sketch per layer-0 slot, `Shape::sketch_len` bytes each)
//! code pages       (quantized, codes longer than a page holds) one code part each, in no chain
//! codebook pages   a chain of their own (`am::codebook`)
//! ```
//!
//! An element and its neighbour tuple are placed on the same page when both fit. Many elements
//! share a page (a 50-d f32 element with m = 16 takes about 470 bytes). Elements with identical
//! values share one element tuple holding up to ten heap TIDs. Neighbour lists are updated in
//! place; an element whose heap rows are all dead is marked `deleted` by VACUUM once no link
//! points to it, and its slot (element + neighbour tuple) is reused by a later insert.
//!
//! The `format` byte of an element tuple (and the meta page's `quantization` field, for all
//! elements) says how the value is stored: [`FORMAT_PLAIN`], the varlena image;
//! [`FORMAT_CODE`], the code of a quantized index; [`FORMAT_CODE_PARTS`], a code too long for
//! a page (an sq8 code of more than 8,074 dimensions), split into parts of at most
//! [`PART_MAX`] bytes, each alone on a code page, the element holding their TIDs (a
//! *directory*). Code pages are reached only through directories; when an insert reuses the
//! slot of a deleted element it overwrites that element's parts in place. An unquantized index
//! whose value images do not fit an element tuple (`ruvector` above about 2,017 dimensions,
//! `halfvec` above about 4,035) stores the images the same way, in parts
//! ([`VERSION_VALUE_PARTS`]): its elements' "code" is the full-precision image itself.

use crate::am::codebook::CodebookRef;
use crate::am::meta::MetaError;
use crate::am::page::{maxalign, BLCKSZ, LINE_POINTER, PAGE_HEADER, SPECIAL};
use crate::kernels::metric::Metric;

pub const MAGIC: u32 = 0x5255_484E; // "RUHN"
/// Format version of unquantized indexes (unchanged since the first release).
pub const VERSION: u32 = 1;
/// Format version of quantized indexes: elements hold codes ([`FORMAT_CODE`]) and the meta
/// page a [`CodebookRef`] (older binaries refuse these indexes instead of misreading them).
pub const VERSION_QUANTIZED: u32 = 2;
/// Format version of indexes with key columns (quantized or not): element tuples end with a
/// key blob ([`element_keys`]) and the meta page says how many keys and bytes.
pub const VERSION_KEYS: u32 = 3;
/// Format version of unquantized indexes whose value images are split over code pages
/// ([`FORMAT_CODE_PARTS`], with or without key columns): older binaries, which would read the
/// directories as images, refuse them.
pub const VERSION_VALUE_PARTS: u32 = 4;
/// Format version of unquantized indexes (without key columns; images in the element tuples
/// or in parts) whose layer-0 neighbour lists carry a *sketch* of each neighbour
/// ([`Shape::sketch_len`], `am::hnsw::sketches`), and whose meta page is followed by the sketches'
/// centroid ([`meta_contents`]). Older binaries, which would not keep the sketches in step
/// with the lists, refuse these indexes.
pub const VERSION_SKETCH: u32 = 5;
/// The format versions this build reads (`am::meta`).
pub const VERSIONS: std::ops::RangeInclusive<u32> = VERSION..=VERSION_SKETCH;

pub const META_BLKNO: u32 = 0;
/// First element page.
pub const HEAD_BLKNO: u32 = 1;

/// Page types (Opaque::page_type).
pub const PAGE_META: u8 = 1;
pub const PAGE_ELEMENT: u8 = 2;

/// Tuple type bytes.
pub const ELEMENT_TUPLE: u8 = 1;
pub const NEIGHBOR_TUPLE: u8 = 2;

/// Heap TIDs an element keeps for rows with identical values.
pub const HEAP_TIDS: usize = 10;

/// Size of an element tuple's header; the value image follows, 8-byte aligned.
pub const ELEMENT_HEADER: usize = 24;
const NEIGHBOR_HEADER: usize = 4;
const TID_SIZE: usize = 6;

/// Value formats (element tuple `format`, meta `quantization`).
pub const FORMAT_PLAIN: u8 = 0;
/// The value is a code of the index's codebook.
pub const FORMAT_CODE: u8 = 1;
/// The value is a directory of the code's parts (code tuples on code pages).
pub const FORMAT_CODE_PARTS: u8 = 2;

/// Page type of code pages.
pub const PAGE_CODE: u8 = 3;
/// Page type of the key directory's entry pages (`keydir.rs`).
pub const PAGE_KEYS: u8 = 4;
/// Page type of the key directory's slot table pages (`keydir.rs`).
pub const PAGE_KEY_TABLE: u8 = 5;
/// A code page no element referred to (an insert stopped between writing a split code's parts
/// and its element), emptied by `ruvector_index_maintenance()` and recorded in the index's
/// free space map; the next split code written reuses it (`Locked::recycled`). Nothing links
/// to it, so versions of ruvector without this page type never read it (only their check
/// would report the unknown type).
pub const PAGE_FREE: u8 = 6;
/// Tuple type of a code part.
pub const CODE_TUPLE: u8 = 3;
/// A code tuple's header: type, part number, length (u16), 4 unused bytes.
const CODE_HEADER: usize = 8;

pub use crate::am::tid::Tid;

/// The meta page (block 0). Options are copied here at build time: later reads never consult
/// reloptions, which can be changed by ALTER INDEX.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaPage {
    pub magic: u32,
    pub version: u32,
    pub dimensions: u32,
    pub m: u16,
    pub ef_construction: u16,
    /// [`Metric`] as u16.
    pub metric: u16,
    /// Value format of all elements ([`FORMAT_PLAIN`] in format version 1,
    /// [`FORMAT_CODE_PARTS`] in version 4).
    pub quantization: u16,
    pub entry_block: u32,
    pub entry_offset: u16,
    /// Level of the entry point, −1 when the index is empty.
    pub entry_level: i16,
    /// First page to try for new elements.
    pub insert_page: u32,
    /// Key columns after the vector, and bytes of an element's key blob (version 3; zero
    /// before).
    pub keys: u16,
    pub key_len: u16,
    /// First and last page of the key directory (`keydir.rs`; version 3).
    pub key_head: u32,
    pub key_tail: u32,
    /// Key columns with *key links* (bit `j`: key column `j`; version 3, zero before): every
    /// element's neighbour tuple ends with one list per such column, of `key_m` links to
    /// near elements with the same key in that column (see [`Shape`]).
    pub key_links: u16,
    pub key_m: u16,
    /// The codebook of a quantized index (zero in version 1).
    pub codebook: CodebookRef,
    /// Bits of each neighbour sketch (version 5; zero before: [`sketch_bits_for`]).
    pub sketch_bits: u16,
    pub reserved: u16,
}

/// Bytes of a version 1 meta page.
const META_V1: usize = 48;

impl MetaPage {
    pub fn new(dimensions: u32, m: u16, ef_construction: u16, metric: Metric) -> MetaPage {
        let mut meta = MetaPage {
            magic: MAGIC,
            version: VERSION,
            dimensions,
            m,
            ef_construction,
            metric: metric as u16,
            quantization: FORMAT_PLAIN as u16,
            entry_block: u32::MAX,
            entry_offset: 0,
            entry_level: -1,
            insert_page: HEAD_BLKNO,
            keys: 0,
            key_len: 0,
            key_head: u32::MAX,
            key_tail: u32::MAX,
            key_links: 0,
            key_m: 0,
            codebook: CodebookRef::default(),
            sketch_bits: 0,
            reserved: 0,
        };
        meta.settle();
        meta
    }

    /// Makes this a quantized index's meta page.
    pub fn set_codebook(&mut self, codebook: CodebookRef) {
        self.codebook = codebook;
        self.settle();
    }

    /// Makes this the meta page of an index with `count` key columns stored in blobs of `len`
    /// bytes (none: `count` 0).
    pub fn set_keys(&mut self, count: usize, len: usize) {
        self.keys = count as u16;
        self.key_len = len as u16;
        self.settle();
    }

    /// Derives the value format and the format version from the options (a new index).
    fn settle(&mut self) {
        self.quantization = match self.code_len() {
            Some(len) => code_format(len, self.key_len as usize),
            None if self
                .image_len()
                .is_some_and(|n| values_split(n, self.key_len as usize)) =>
            {
                FORMAT_CODE_PARTS
            }
            None => FORMAT_PLAIN,
        }
        .into();
        self.version = self.format_version();
    }

    /// The oldest format version that can describe this index.
    fn format_version(&self) -> u32 {
        if self.split_values() {
            VERSION_VALUE_PARTS
        } else if self.keys > 0 {
            VERSION_KEYS
        } else if self.codebook.is_quantized() {
            VERSION_QUANTIZED
        } else {
            VERSION
        }
    }

    /// How elements store their values ([`FORMAT_PLAIN`] for an unquantized index whose
    /// images fit an element tuple).
    pub fn code_format(&self) -> u8 {
        match self.code_len() {
            Some(len) => code_format(len, self.key_len as usize),
            None if self.split_values() => FORMAT_CODE_PARTS,
            None => FORMAT_PLAIN,
        }
    }

    /// Whether this unquantized index stores its value images in parts (version 4).
    fn split_values(&self) -> bool {
        !self.codebook.is_quantized() && self.quantization == FORMAT_CODE_PARTS as u16
    }

    /// Bytes of a value image of this index's type and dimensions (`None` for sparse
    /// vectors, whose images vary).
    fn image_len(&self) -> Option<usize> {
        self.metric()
            .and_then(|m| crate::am::value::image_len(m.kind(), self.dimensions as usize))
    }

    /// Bytes every element stores through its parts or in its tuple when they do not vary:
    /// the code of a quantized index, the image of a version 4 index; `None` otherwise.
    pub fn stored_len(&self) -> Option<usize> {
        match self.code_len() {
            Some(n) => Some(n),
            None if self.split_values() => self.image_len(),
            None => None,
        }
    }

    /// Parts of each element's stored value ([`FORMAT_CODE_PARTS`]; 0 when values are kept
    /// in the element tuples).
    pub fn parts(&self) -> usize {
        match (self.code_format(), self.stored_len()) {
            (FORMAT_CODE_PARTS, Some(len)) => code_parts(len),
            _ => 0,
        }
    }

    /// Bytes of an element's code (`None` for an unquantized index).
    pub fn code_len(&self) -> Option<usize> {
        self.codebook
            .quantization()
            .code_len(self.dimensions as usize)
    }

    pub fn is_quantized(&self) -> bool {
        self.codebook.is_quantized()
    }

    pub fn entry(&self) -> Option<(Tid, usize)> {
        (self.entry_level >= 0).then(|| {
            (
                Tid::new(self.entry_block, self.entry_offset),
                self.entry_level as usize,
            )
        })
    }

    pub fn set_entry(&mut self, entry: Option<(Tid, usize)>) {
        match entry {
            Some((tid, level)) => {
                self.entry_block = tid.block;
                self.entry_offset = tid.offset;
                self.entry_level = level as i16;
            }
            None => {
                self.entry_block = u32::MAX;
                self.entry_offset = 0;
                self.entry_level = -1;
            }
        }
    }

    /// Bytes of a stored value image for fixed-size types (prefetching); sparse vectors
    /// vary, and a guess of 256 bytes is used for them.
    pub fn value_len_hint(&self) -> usize {
        if let Some(n) = self.stored_len() {
            return match self.code_format() {
                FORMAT_CODE_PARTS => directory_len(n),
                _ => n,
            };
        }
        self.image_len().unwrap_or(256)
    }

    pub fn metric(&self) -> Option<Metric> {
        Metric::from_u16(self.metric)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        bytemuck_bytes(self).to_vec()
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
            VERSION | VERSION_QUANTIZED if m.keys != 0 || m.key_len != 0 => {
                return Err(MetaError::Damaged)
            }
            // Versions 1 and 2 wrote zeros where version 3 has the key directory.
            VERSION_QUANTIZED if n < raw.len() || !m.codebook.is_quantized() => {
                return Err(MetaError::Damaged)
            }
            VERSION | VERSION_QUANTIZED => {
                (m.key_head, m.key_tail) = (u32::MAX, u32::MAX);
                if m.version == VERSION {
                    m.codebook = CodebookRef::default();
                }
            }
            VERSION_KEYS
                if n == raw.len()
                    && m.keys > 0
                    && m.key_head != u32::MAX
                    && (m.key_links as u32) < (1u32 << m.keys.min(16))
                    && (m.key_links == 0) == (m.key_m == 0)
                    && (m.key_m as usize) <= MAX_KEY_M => {}
            VERSION_KEYS => return Err(MetaError::Damaged),
            // Split images: unquantized, and the images really do not fit an element tuple;
            // key columns as in version 3, if any.
            VERSION_VALUE_PARTS
                if n == raw.len()
                    && !m.codebook.is_quantized()
                    && m.quantization == FORMAT_CODE_PARTS as u16
                    && m.image_len()
                        .is_some_and(|len| values_split(len, m.key_len as usize))
                    && (m.keys > 0) == (m.key_head != u32::MAX)
                    && (m.keys > 0 || m.key_len == 0)
                    && (m.key_links as u32) < (1u32 << m.keys.min(16))
                    && (m.key_links == 0) == (m.key_m == 0)
                    && (m.key_m as usize) <= MAX_KEY_M => {}
            VERSION_VALUE_PARTS => return Err(MetaError::Damaged),
            // Sketches: unquantized, no key columns, images in the element tuples or split as
            // in version 4, a metric the sketches estimate.
            VERSION_SKETCH
                if n == raw.len()
                    && !m.codebook.is_quantized()
                    && m.keys == 0
                    && m.key_len == 0
                    && m.key_links == 0
                    && m.key_m == 0
                    && m.key_head == u32::MAX
                    && match m.quantization {
                        q if q == FORMAT_PLAIN as u16 => true,
                        q if q == FORMAT_CODE_PARTS as u16 => {
                            m.image_len().is_some_and(|len| values_split(len, 0))
                        }
                        _ => false,
                    }
                    && m.metric()
                        .is_some_and(|mt| sketchable(mt, m.dimensions as usize))
                    && SKETCH_BITS.contains(&(m.sketch_bits as usize))
                    && m.sketch_bits % 64 == 0 => {}
            VERSION_SKETCH => return Err(MetaError::Damaged),
            v => return Err(MetaError::Version(v)),
        }
        // Versions before 5 wrote no sketch bits (zeros, or nothing: the page's zeros).
        if m.version < VERSION_SKETCH {
            (m.sketch_bits, m.reserved) = (0, 0);
        }
        // Unquantized indexes of versions 1 and 3 store images in their element tuples (the
        // field was not read for them before version 4: take it as what it meant).
        if matches!(m.version, VERSION | VERSION_KEYS) && !m.codebook.is_quantized() {
            m.quantization = FORMAT_PLAIN as u16;
        }
        m.metric().map(|_| m).ok_or(MetaError::Damaged)
    }
}

impl MetaPage {
    /// Whether layer-0 lists carry sketches (version 5).
    pub fn sketched(&self) -> bool {
        self.version == VERSION_SKETCH
    }

    /// Makes this a version 5 meta page (a new index whose lists will carry sketches of
    /// [`sketch_bits_for`] bits), if its index can have them; returns whether it now is.
    pub fn set_sketched(&mut self) -> bool {
        let bits = match self.metric() {
            Some(mt) if !self.codebook.is_quantized() && self.keys == 0 => {
                sketch_bits_for(mt, self.dimensions as usize, self.m as usize)
            }
            _ => None,
        };
        if let Some(b) = bits {
            self.version = VERSION_SKETCH;
            self.sketch_bits = b as u16;
        }
        bits.is_some()
    }

    /// Sketch bytes per layer-0 slot (0 without sketches).
    pub fn sketch_len(&self) -> usize {
        if self.sketched() {
            self.sketch_bits as usize / 8 + SKETCH_FACTORS
        } else {
            0
        }
    }
}

/// The two f32 factors after a sketch's bits (`quant::sketch`).
pub const SKETCH_FACTORS: usize = 8;

/// Whether an index of `metric` and `dims` dimensions can have sketches: only squared-L2 and
/// cosine distances of dense vectors are estimated (cosine on unit vectors, as the index
/// stores them); below [`SKETCH_DIMS`]`.start()` a sketch (at least 40 bytes) is no longer
/// much smaller than the value it spares reading, and above its end the centroid would not
/// fit the meta page after the [`MetaPage`] ([`meta_contents`]).
pub fn sketchable(metric: Metric, dims: usize) -> bool {
    matches!(
        metric,
        Metric::L2F32 | Metric::CosineF32 | Metric::L2F16 | Metric::CosineF16
    ) && SKETCH_DIMS.contains(&dims)
}

/// Dimensions an index with sketches may have.
pub const SKETCH_DIMS: std::ops::RangeInclusive<usize> = 64..=2000;

/// Sketch bits an index may have.
const SKETCH_BITS: std::ops::RangeInclusive<usize> = 256..=1024;

/// Sketch bits of a new index with sketches (`None`: it cannot have them, [`sketchable`]):
/// `quant::sketch::bits_for(dims)`, or fewer (down to 256) when that keeps the index within
/// twice the pages it takes without sketches. An element and its ground-layer neighbour tuple
/// are read together, so pages per element is what the index costs in memory and in page
/// reads. 384-d `vector`, m 16: 448 bits instead of 512 keep two elements a page (four without
/// sketches); 768-d and 1536-d: 1,024 bits (two pages per 1536-d element instead of one: fewer
/// bits, which would keep one, lose recall at small `ef_search` — measured 0.883 instead of
/// pgvector's 0.893 at `ef_search` 10 with 320 bits).
pub fn sketch_bits_for(metric: Metric, dims: usize, m: usize) -> Option<usize> {
    if !sketchable(metric, dims) {
        return None;
    }
    let most = crate::quant::sketch::bits_for(dims);
    let image = crate::am::value::image_len(metric.kind(), dims)?;
    let element = maxalign(element_tuple_size(image, 0)) + LINE_POINTER;
    let plain = Shape::plain(m).tuple_size(0);
    let room = BLCKSZ - PAGE_HEADER - SPECIAL;
    // Pages per element (`PagePlanner::place`): pairs packed on a page when one fits, else
    // about the pages their bytes fill.
    let pages = |sketch: usize| {
        let pair = element + maxalign(plain + 2 * m * sketch) + LINE_POINTER;
        if pair <= room {
            1.0 / (room / pair) as f64
        } else {
            pair.div_ceil(room) as f64
        }
    };
    let limit = 2.0 * pages(0);
    Some(
        (*SKETCH_BITS.start() / 64..=most / 64)
            .rev()
            .map(|w| w * 64)
            .find(|b| pages(b / 8 + SKETCH_FACTORS) <= limit)
            .unwrap_or(*SKETCH_BITS.start()),
    )
}
const _: () = assert!(std::mem::size_of::<MetaPage>() + 4 * *SKETCH_DIMS.end() <= META_ROOM);

/// Bytes of a meta page's contents area (between the page header and the special space).
const META_ROOM: usize = BLCKSZ - PAGE_HEADER - SPECIAL;

/// The meta page's contents: the [`MetaPage`], then, for a version 5 index, the sketches'
/// centroid (`dimensions` f32, little-endian).
pub fn meta_contents(meta: &MetaPage, centroid: &[f32]) -> Vec<u8> {
    let mut out = meta.to_bytes();
    if meta.sketched() {
        assert_eq!(centroid.len(), meta.dimensions as usize);
        out.extend(centroid.iter().flat_map(|x| x.to_le_bytes()));
    }
    out
}

/// The sketches' centroid of a version 5 index from its meta page's contents (`None` for
/// other versions, or a page too short to hold it).
pub fn meta_centroid(contents: &[u8], meta: &MetaPage) -> Option<Vec<f32>> {
    Some(
        meta_centroid_bytes(contents, meta)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
    )
}

/// The bytes of [`meta_centroid`] as stored (little-endian f32).
pub fn meta_centroid_bytes<'a>(contents: &'a [u8], meta: &MetaPage) -> Option<&'a [u8]> {
    if !meta.sketched() {
        return None;
    }
    let start = std::mem::size_of::<MetaPage>();
    contents.get(start..start + 4 * meta.dimensions as usize)
}

fn bytemuck_bytes<T: Copy>(x: &T) -> &[u8] {
    // SAFETY: T is a repr(C) struct of integers without padding (checked by the size test).
    unsafe { std::slice::from_raw_parts((x as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// Bytes of the heap TIDs kept after the value (all but the first, which is in the header).
const EXTRA_TIDS: usize = (HEAP_TIDS - 1) * TID_SIZE;

/// Size of an element tuple for a value image of `value_len` bytes and a key blob of
/// `key_len` bytes (a multiple of 8).
pub fn element_tuple_size(value_len: usize, key_len: usize) -> usize {
    (ELEMENT_HEADER + key_area(key_len) + value_len + EXTRA_TIDS).div_ceil(8) * 8
}

/// Where layer `level`'s list starts in a neighbour tuple, and its capacity.
pub fn layer_slots(level: usize, m: usize) -> (usize, usize) {
    if level == 0 {
        (0, 2 * m)
    } else {
        (2 * m + (level - 1) * m, m)
    }
}

/// A decoded element tuple header (the value stays in the page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub level: u8,
    pub deleted: bool,
    pub version: u8,
    pub format: u8,
    pub heap_tids: Vec<Tid>,
    pub neighbors: Tid,
}

// Element tuple header (ELEMENT_HEADER = 24 bytes), laid out so that what a search reads —
// header and value — is contiguous; the other heap TIDs of shared values come after the value:
//   [0] type  [1] level  [2] deleted  [3] version  [4] heap TID count  [5] value format
//   [6..8] value length (u16)  [8..14] neighbour tuple TID  [14..20] first heap TID
//   [20..22] key blob length k (u16; format version 3, else 0)  [22..24] unused
//   [24..24+k] key blob, padded to 8 bytes (keys share the header's cache line: a filtered
//   search checks them before it reads the value)  then the value image  then HEAP_TIDS - 1
//   heap TIDs (6 bytes each)
const H_TYPE: usize = 0;
const H_LEVEL: usize = 1;
const H_DELETED: usize = 2;
const H_VERSION: usize = 3;
const H_COUNT: usize = 4;
const H_FORMAT: usize = 5;
const H_VALUE_LEN: usize = 6;
const H_NEIGHBORS: usize = 8;
const H_FIRST_TID: usize = 14;
const H_KEY_LEN: usize = 20;

/// Encodes an element tuple; `keys` is the key blob (empty without key columns).
pub fn encode_element(e: &Element, value: &[u8], keys: &[u8]) -> Vec<u8> {
    assert!(e.heap_tids.len() <= HEAP_TIDS);
    assert!(value.len() <= u16::MAX as usize && keys.len() <= u16::MAX as usize);
    let mut out = vec![0u8; element_tuple_size(value.len(), keys.len())];
    out[H_TYPE] = ELEMENT_TUPLE;
    out[H_LEVEL] = e.level;
    out[H_DELETED] = e.deleted as u8;
    out[H_VERSION] = e.version;
    out[H_FORMAT] = e.format;
    out[H_VALUE_LEN..H_VALUE_LEN + 2].copy_from_slice(&(value.len() as u16).to_ne_bytes());
    e.neighbors.write(&mut out[H_NEIGHBORS..]);
    out[H_KEY_LEN..H_KEY_LEN + 2].copy_from_slice(&(keys.len() as u16).to_ne_bytes());
    out[ELEMENT_HEADER..ELEMENT_HEADER + keys.len()].copy_from_slice(keys);
    let at = value_at(&out);
    out[at..at + value.len()].copy_from_slice(value);
    set_element_heap_tids(&mut out, &e.heap_tids);
    out
}

/// Bytes the key blob takes before the value (padded so that the value stays 8-aligned for
/// the SIMD kernels that read it in place).
pub fn key_area(key_len: usize) -> usize {
    key_len.div_ceil(8) * 8
}

#[inline]
fn key_len(b: &[u8]) -> usize {
    u16::from_ne_bytes([b[H_KEY_LEN], b[H_KEY_LEN + 1]]) as usize
}

/// Where the value image starts.
#[inline]
fn value_at(b: &[u8]) -> usize {
    ELEMENT_HEADER + key_area(key_len(b))
}

/// The key blob of an element tuple (empty without key columns, or if the tuple is damaged:
/// a blob of the wrong length matches no predicate).
#[inline]
pub fn element_keys(b: &[u8]) -> &[u8] {
    b.get(ELEMENT_HEADER..ELEMENT_HEADER + key_len(b))
        .unwrap_or(&[])
}

/// Decodes an element tuple's header; `None` if `b` is not a (well-formed) element tuple.
pub fn decode_element(b: &[u8]) -> Option<Element> {
    if !is_element_tuple(b) || b.len() < extra_tids_at(b) + EXTRA_TIDS {
        return None;
    }
    let n = element_heap_tid_count(b);
    Some(Element {
        level: element_level(b),
        deleted: element_deleted(b),
        version: element_version(b),
        format: b[H_FORMAT],
        heap_tids: (0..n).map(|i| element_heap_tid(b, i)).collect(),
        neighbors: element_neighbors(b),
    })
}

#[inline]
fn value_len(b: &[u8]) -> usize {
    u16::from_ne_bytes([b[H_VALUE_LEN], b[H_VALUE_LEN + 1]]) as usize
}

#[inline]
fn extra_tids_at(b: &[u8]) -> usize {
    value_at(b) + value_len(b)
}

/// The value image stored in an element tuple (empty if the tuple is damaged).
#[inline]
pub fn element_value(b: &[u8]) -> &[u8] {
    b.get(value_at(b)..value_at(b) + value_len(b))
        .unwrap_or(&[])
}

/// The type byte every tuple of an element page starts with ([`ELEMENT_TUPLE`],
/// [`NEIGHBOR_TUPLE`]; 0 for an empty item).
#[inline]
pub fn tuple_type(b: &[u8]) -> u8 {
    b.get(H_TYPE).copied().unwrap_or(0)
}

/// Whether `b` is an element tuple with a whole header.
#[inline]
pub fn is_element_tuple(b: &[u8]) -> bool {
    b.len() >= ELEMENT_HEADER && b[H_TYPE] == ELEMENT_TUPLE
}

/// Element tuple header fields read without allocating (scan hot path).
#[inline]
pub fn element_level(b: &[u8]) -> u8 {
    b[H_LEVEL]
}

#[inline]
pub fn element_deleted(b: &[u8]) -> bool {
    b[H_DELETED] != 0
}

/// The version of an element's slot (1..=15; VACUUM bumps it when it deletes the element, so
/// that an insert holding an old link can tell the slot was reused, as pgvector's `version`).
#[inline]
pub fn element_version(b: &[u8]) -> u8 {
    b[H_VERSION]
}

pub fn set_element_version(b: &mut [u8], version: u8) {
    b[H_VERSION] = version;
}

#[inline]
pub fn element_neighbors(b: &[u8]) -> Tid {
    Tid::read(&b[H_NEIGHBORS..])
}

#[inline]
pub fn element_heap_tid_count(b: &[u8]) -> usize {
    (b[H_COUNT] as usize).min(HEAP_TIDS)
}

/// Heap TID `i` (< the count) of an element tuple.
#[inline]
pub fn element_heap_tid(b: &[u8], i: usize) -> Tid {
    if i == 0 {
        Tid::read(&b[H_FIRST_TID..])
    } else {
        b.get(extra_tids_at(b) + (i - 1) * TID_SIZE..)
            .filter(|r| r.len() >= TID_SIZE)
            .map_or(Tid::INVALID, Tid::read)
    }
}

/// Rewrites the heap TID list of an element tuple in place.
pub fn set_element_heap_tids(b: &mut [u8], tids: &[Tid]) {
    assert!(tids.len() <= HEAP_TIDS);
    let extra = extra_tids_at(b);
    for i in 0..HEAP_TIDS {
        let t = tids.get(i).copied().unwrap_or(Tid::INVALID);
        let at = if i == 0 {
            H_FIRST_TID
        } else {
            extra + (i - 1) * TID_SIZE
        };
        t.write(&mut b[at..at + TID_SIZE]);
    }
    b[H_COUNT] = tids.len() as u8;
}

/// Sets the neighbour-tuple TID of an element tuple.
pub fn set_element_neighbors(b: &mut [u8], tid: Tid) {
    tid.write(&mut b[H_NEIGHBORS..H_NEIGHBORS + TID_SIZE]);
}

/// Marks an element tuple deleted: no heap TIDs, value zeroed — except a directory of code
/// parts, which an insert reusing the slot overwrites in place.
pub fn set_element_deleted(b: &mut [u8]) {
    b[H_DELETED] = 1;
    set_element_heap_tids(b, &[]);
    if b[H_FORMAT] != FORMAT_CODE_PARTS {
        let (start, end) = (value_at(b).min(b.len()), extra_tids_at(b).min(b.len()));
        b[start..end].fill(0);
    }
}

// Neighbour tuple header (NEIGHBOR_HEADER = 4 bytes): [0] type  [1] version (its element's)
//   [2..4] slot count (u16); then the slots, TID_SIZE bytes each.
const N_VERSION: usize = 1;
const N_COUNT: usize = 2;

/// Whether `b` is a neighbour tuple.
pub fn is_neighbor_tuple(b: &[u8]) -> bool {
    b.len() >= NEIGHBOR_HEADER && b[H_TYPE] == NEIGHBOR_TUPLE
}

/// Empties every slot of a neighbour tuple and gives it `version` (VACUUM deleting its
/// element). `b` must be a neighbour tuple ([`is_neighbor_tuple`]).
pub fn clear_neighbor_tuple(b: &mut [u8], version: u8) {
    b[N_VERSION] = version;
    for i in 0..slot_count(b) {
        Tid::INVALID.write(&mut b[NEIGHBOR_HEADER + i * TID_SIZE..]);
    }
}

/// Slots a neighbour tuple holds: its count, bounded by its length (a damaged count reads no
/// further than the tuple). `b` must be a neighbour tuple ([`is_neighbor_tuple`]).
#[inline]
fn slot_count(b: &[u8]) -> usize {
    neighbor_slot_count(b).min(b.len().saturating_sub(NEIGHBOR_HEADER) / TID_SIZE)
}

/// One list of a neighbour tuple: a layer's links, or a key column's key links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Layer(usize),
    /// The `j`-th key column with key links ([`MetaPage::key_links`], in column order).
    Key(usize),
}

/// Most key links a list may hold (a neighbour tuple of the highest level must still fit a
/// page with the lists of 16 key columns: `build::max_level` accounts for them).
pub const MAX_KEY_M: usize = 64;

/// The lists of an index's neighbour tuples: layer 0 holds `2m` links, each layer above `m`,
/// then `key_lists` lists of `key_m` key links each (after the layers, so that every layer
/// sits where it does without key links).
///
/// Key links are the links of a second graph per key value (the subgraph of the elements that
/// share a key in one column), the *payload-based* extra links of Qdrant's filterable HNSW
/// (<https://qdrant.tech/articles/filtrable-hnsw/>): a walk filtered by `column = value` stays
/// among the elements that pass instead of crossing the many that fail (`scan.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub m: usize,
    pub key_lists: usize,
    pub key_m: usize,
    /// Bytes of the sketch kept for each layer-0 slot (0: none; format version 5). The
    /// sketches follow all the slots, the `i`-th standing for layer-0 slot `i`'s element
    /// ([`Shape::sketch`]); a slot whose writer did not have the element's vector has all
    /// bytes zero (no sketch: the search visits the element).
    pub sketch_len: usize,
}

impl Shape {
    pub fn of(meta: &MetaPage) -> Shape {
        Shape {
            m: meta.m as usize,
            key_lists: meta.key_links.count_ones() as usize,
            key_m: meta.key_m as usize,
            sketch_len: meta.sketch_len(),
        }
    }

    /// A shape without key links.
    pub fn plain(m: usize) -> Shape {
        Shape {
            m,
            key_lists: 0,
            key_m: 0,
            sketch_len: 0,
        }
    }

    fn key_slots(&self) -> usize {
        self.key_lists * self.key_m
    }

    /// Slots of the neighbour tuple of an element of `level`.
    pub fn slots(&self, level: usize) -> usize {
        (level + 2) * self.m + self.key_slots()
    }

    /// Size of the neighbour tuple of an element of `level`.
    pub fn tuple_size(&self, level: usize) -> usize {
        NEIGHBOR_HEADER + self.slots(level) * TID_SIZE + self.sketch_area()
    }

    /// Bytes of the sketches of the layer-0 slots.
    fn sketch_area(&self) -> usize {
        2 * self.m * self.sketch_len
    }

    /// Where the sketch of layer-0 slot `i` is in the neighbour tuple `b` (`None` without
    /// sketches, or when `b` is too short to hold it: a damaged tuple).
    fn sketch_range(&self, b: &[u8], i: usize) -> Option<std::ops::Range<usize>> {
        if self.sketch_len == 0 || i >= 2 * self.m {
            return None;
        }
        let start = NEIGHBOR_HEADER + slot_count(b) * TID_SIZE + i * self.sketch_len;
        (start + self.sketch_len <= b.len()).then(|| start..start + self.sketch_len)
    }

    /// The sketch of layer-0 slot `i` (see [`Shape::sketch_len`]).
    #[inline]
    pub fn sketch<'b>(&self, b: &'b [u8], i: usize) -> Option<&'b [u8]> {
        self.sketch_range(b, i).map(|r| &b[r])
    }

    /// All layer-0 sketches, contiguous (empty without sketches).
    pub fn sketches<'b>(&self, b: &'b [u8]) -> &'b [u8] {
        match (
            self.sketch_range(b, 0),
            self.sketch_range(b, 2 * self.m - 1),
        ) {
            (Some(first), Some(last)) => &b[first.start..last.end],
            _ => &[],
        }
    }

    /// Writes the sketch of layer-0 slot `i` (`None`: no sketch, all bytes zero).
    pub fn set_sketch(&self, b: &mut [u8], i: usize, sketch: Option<&[u8]>) {
        if let Some(r) = self.sketch_range(b, i) {
            match sketch {
                Some(s) if s.len() == self.sketch_len => b[r].copy_from_slice(s),
                _ => b[r].fill(0),
            }
        }
    }

    /// The level of a neighbour tuple whose header says it holds `count` slots, if that is a
    /// count this shape gives (`None`: a damaged header), and whether `len` bytes hold them.
    pub fn level_of(&self, count: usize, len: usize) -> Option<usize> {
        let layers = count.checked_sub(self.key_slots())?;
        (self.m > 0
            && layers >= 2 * self.m
            && layers.is_multiple_of(self.m)
            && len >= NEIGHBOR_HEADER + count * TID_SIZE + self.sketch_area())
        .then(|| layers / self.m - 2)
    }

    /// Links `list` holds at most.
    pub fn capacity(&self, list: List) -> usize {
        match list {
            List::Layer(l) => layer_slots(l, self.m).1,
            List::Key(_) => self.key_m,
        }
    }

    /// The slots of `list` in the neighbour tuple `b`, as far as the tuple holds them. Key
    /// lists are counted from the end of the tuple.
    fn range(&self, b: &[u8], list: List) -> std::ops::Range<usize> {
        let count = slot_count(b);
        let (start, cap) = match list {
            // Never into the key lists (a layer above the element's level has no slots).
            List::Layer(l) => {
                let (start, cap) = layer_slots(l, self.m);
                let end = count.saturating_sub(self.key_slots());
                (start.min(end), cap.min(end.saturating_sub(start)))
            }
            List::Key(j) if j < self.key_lists => (
                count.saturating_sub((self.key_lists - j) * self.key_m),
                self.key_m,
            ),
            List::Key(_) => (count, 0),
        };
        start.min(count)..(start + cap).min(count)
    }

    /// Appends the valid links of `list` to `out` (no allocation).
    #[inline]
    pub fn read(&self, b: &[u8], list: List, out: &mut Vec<u64>) {
        for i in self.range(b, list) {
            let t = Tid::read(&b[NEIGHBOR_HEADER + i * TID_SIZE..]);
            if t.is_valid() {
                out.push(t.pack());
            }
        }
    }

    /// The valid links of each key list of neighbour tuple `b`, in column order.
    pub fn key_links(&self, b: &[u8]) -> Vec<Vec<u64>> {
        (0..self.key_lists)
            .map(|j| {
                let mut out = Vec::new();
                self.read(b, List::Key(j), &mut out);
                out
            })
            .collect()
    }

    /// The slot of `list` that holds `id` (no allocation: the scan asks per neighbour).
    #[inline]
    pub fn slot_of(&self, b: &[u8], list: List, id: u64) -> Option<usize> {
        let start = self.range(b, list).start;
        self.range(b, list)
            .position(|i| Tid::read(&b[NEIGHBOR_HEADER + i * TID_SIZE..]).pack() == id)
            .map(|n| start + n)
    }

    /// For each of `ids`, its slot of `list` (as [`Shape::slot_of`]), in one pass over the list
    /// when `ids` come in the list's order (a search's unvisited neighbours do), and by
    /// [`Shape::slot_of`] for any that do not.
    #[inline]
    pub fn slots_of(&self, b: &[u8], list: List, ids: &[u64], mut f: impl FnMut(Option<usize>)) {
        let mut next = 0;
        for i in self.range(b, list) {
            let Some(&id) = ids.get(next) else { break };
            if Tid::read(&b[NEIGHBOR_HEADER + i * TID_SIZE..]).pack() == id {
                f(Some(i));
                next += 1;
            }
        }
        for &id in &ids[next..] {
            f(self.slot_of(b, list, id));
        }
    }

    /// The slots of `list` (valid or not).
    pub fn tids(&self, b: &[u8], list: List) -> Vec<Tid> {
        self.range(b, list)
            .map(|i| Tid::read(&b[NEIGHBOR_HEADER + i * TID_SIZE..]))
            .collect()
    }

    /// Overwrites the slots of `list`, padding with invalid TIDs.
    pub fn set(&self, b: &mut [u8], list: List, tids: &[Tid]) {
        for (n, i) in self.range(b, list).enumerate() {
            let t = tids.get(n).copied().unwrap_or(Tid::INVALID);
            t.write(&mut b[NEIGHBOR_HEADER + i * TID_SIZE..]);
        }
    }

    /// Encodes the neighbour tuple of an element of `level` from its per-layer lists (layer 0
    /// first) and its key lists (one per key column with key links; missing ones empty),
    /// padding with invalid TIDs.
    pub fn encode(&self, level: usize, layers: &[Vec<Tid>], keys: &[Vec<Tid>]) -> Vec<u8> {
        let count = self.slots(level);
        let mut out = vec![0u8; self.tuple_size(level)];
        out[H_TYPE] = NEIGHBOR_TUPLE;
        out[N_COUNT..N_COUNT + 2].copy_from_slice(&(count as u16).to_ne_bytes());
        for i in 0..count {
            Tid::INVALID.write(&mut out[NEIGHBOR_HEADER + i * TID_SIZE..]);
        }
        for (l, list) in layers.iter().enumerate().take(level + 1) {
            self.set(&mut out, List::Layer(l), list);
        }
        for (j, list) in keys.iter().enumerate().take(self.key_lists) {
            self.set(&mut out, List::Key(j), list);
        }
        out
    }
}

/// Slots of a neighbour tuple's header count (damaged tuples: may disagree with its level).
pub fn neighbor_slot_count(b: &[u8]) -> usize {
    u16::from_ne_bytes([b[N_COUNT], b[N_COUNT + 1]]) as usize
}

/// Every valid TID in a neighbour tuple, all layers.
pub fn all_neighbor_tids(b: &[u8]) -> impl Iterator<Item = Tid> + '_ {
    let count = slot_count(b);
    (0..count)
        .map(move |i| Tid::read(&b[NEIGHBOR_HEADER + i * TID_SIZE..]))
        .filter(|t| t.is_valid())
}

/// Largest item a page holds (one item, its line pointer, the special space).
pub use crate::am::page::MAX_ITEM;

/// Most code bytes in one code tuple (a code tuple fills at most a page).
pub const PART_MAX: usize = (MAX_ITEM & !7) - CODE_HEADER;
const _: () = assert!(PART_MAX + CODE_HEADER <= MAX_ITEM);

/// How an element with a key blob of `key_len` bytes stores a code of `code_len` bytes: in its
/// tuple ([`FORMAT_CODE`]) when the tuple fits a page, else in parts ([`FORMAT_CODE_PARTS`]).
pub fn code_format(code_len: usize, key_len: usize) -> u8 {
    if element_tuple_size(code_len, key_len) <= MAX_ITEM {
        FORMAT_CODE
    } else {
        FORMAT_CODE_PARTS
    }
}

/// Whether an unquantized index stores value images of `image_len` bytes in parts (they do
/// not fit an element tuple with a key blob of `key_len` bytes).
pub fn values_split(image_len: usize, key_len: usize) -> bool {
    element_tuple_size(image_len, key_len) > MAX_ITEM
}

/// Parts of a code of `code_len` bytes stored in [`FORMAT_CODE_PARTS`].
pub fn code_parts(code_len: usize) -> usize {
    code_len.div_ceil(PART_MAX)
}

/// The directory of a split code: the part count, a byte of padding, each part's TID.
pub fn encode_directory(parts: &[Tid]) -> Vec<u8> {
    let mut out = vec![0u8; 2 + parts.len() * TID_SIZE];
    out[0] = parts.len() as u8;
    for (i, t) in parts.iter().enumerate() {
        t.write(&mut out[2 + i * TID_SIZE..]);
    }
    out
}

/// The part TIDs of a directory (empty if it is damaged).
pub fn decode_directory(value: &[u8]) -> Vec<Tid> {
    let n = value.first().copied().unwrap_or(0) as usize;
    if value.len() < 2 + n * TID_SIZE {
        return Vec::new();
    }
    (0..n)
        .map(|i| Tid::read(&value[2 + i * TID_SIZE..]))
        .collect()
}

/// Bytes of the directory of a code of `code_len` bytes.
pub fn directory_len(code_len: usize) -> usize {
    2 + code_parts(code_len) * TID_SIZE
}

/// A code tuple holding part `part` of a code.
pub fn encode_code_part(part: usize, bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.len() <= PART_MAX);
    let mut out = vec![0u8; CODE_HEADER + bytes.len()];
    out[0] = CODE_TUPLE;
    out[1] = part as u8;
    out[2..4].copy_from_slice(&(bytes.len() as u16).to_ne_bytes());
    out[CODE_HEADER..].copy_from_slice(bytes);
    out
}

/// The bytes of a code tuple that holds part `part`; `None` if `b` is not one.
pub fn code_part(b: &[u8], part: usize) -> Option<&[u8]> {
    if b.len() < CODE_HEADER || b[0] != CODE_TUPLE || b[1] as usize != part {
        return None;
    }
    let len = u16::from_ne_bytes([b[2], b[3]]) as usize;
    b.get(CODE_HEADER..CODE_HEADER + len)
}

/// Predicts where a bulk build's `PageAddItem` calls put each element and neighbour tuple,
/// so that neighbour lists (which point at elements written later) can be encoded before the
/// pages are written. Elements go on the current page with their neighbour tuple when both fit.
pub struct PagePlanner {
    block: u32,
    lower: usize,
    upper: usize,
    items: u16,
}

impl Default for PagePlanner {
    fn default() -> Self {
        Self::new()
    }
}

impl PagePlanner {
    pub fn new() -> PagePlanner {
        PagePlanner {
            block: HEAD_BLKNO,
            lower: PAGE_HEADER,
            upper: BLCKSZ - SPECIAL,
            items: 0,
        }
    }

    fn free(&self) -> usize {
        (self.upper as isize - self.lower as isize - LINE_POINTER as isize).max(0) as usize
    }

    fn next_page(&mut self) {
        self.block += 1;
        self.lower = PAGE_HEADER;
        self.upper = BLCKSZ - SPECIAL;
        self.items = 0;
    }

    fn add(&mut self, size: usize) -> Tid {
        let size = maxalign(size);
        assert!(self.free() >= size, "item does not fit an empty page");
        self.lower += LINE_POINTER;
        self.upper -= size;
        self.items += 1;
        Tid::new(self.block, self.items)
    }

    /// Places an element tuple of `element` bytes and its neighbour tuple of `neighbors`
    /// bytes; returns both addresses.
    pub fn place(&mut self, element: usize, neighbors: usize) -> (Tid, Tid) {
        let (e, n) = (maxalign(element), maxalign(neighbors));
        let combined = e + n + LINE_POINTER;
        if self.free() < e || (combined <= MAX_ITEM && self.free() < combined) {
            self.next_page();
        }
        let et = self.add(e);
        if self.free() < n {
            self.next_page();
        }
        let nt = self.add(n);
        (et, nt)
    }

    /// The last block planned.
    pub fn last_block(&self) -> u32 {
        self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planner_packs_pairs_per_page() {
        let mut p = PagePlanner::new();
        let (e, n) = (element_tuple_size(208, 0), Shape::plain(16).tuple_size(0));
        let mut last = (Tid::INVALID, Tid::INVALID);
        for i in 0..40 {
            let (et, nt) = p.place(e, n);
            assert_eq!(et.block, nt.block, "pair {i} split");
            assert_eq!(nt.offset, et.offset + 1);
            last = (et, nt);
        }
        // (280 + 200 + 8) bytes per pair: 16 pairs on an 8 KB page
        assert_eq!(last.0.block, 1 + 39 / 16);
        // a pair larger than a page splits across pages
        let mut p = PagePlanner::new();
        let (et, nt) = p.place(4000, 5000);
        assert_eq!((et.block, nt.block), (1, 2));
    }

    #[test]
    fn meta_round_trips() {
        assert_eq!(std::mem::size_of::<MetaPage>(), META_V1 + 24);
        let mut m = MetaPage::new(50, 16, 64, Metric::CosineF32);
        m.set_entry(Some((Tid::new(3, 7), 2)));
        let back = MetaPage::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.entry(), Some((Tid::new(3, 7), 2)));
        assert_eq!(
            MetaPage::from_bytes(&[0u8; 48]),
            Err(crate::am::meta::MetaError::Damaged)
        );
        // Key columns make a version 3 meta page; versions 1 and 2 have none.
        let mut k = m;
        k.set_keys(2, 17);
        (k.key_head, k.key_tail) = (5, 9);
        assert_eq!(k.version, VERSION_KEYS);
        assert_eq!(MetaPage::from_bytes(&k.to_bytes()).unwrap(), k);
        let mut bad = m;
        bad.keys = 1;
        assert_eq!(
            MetaPage::from_bytes(&bad.to_bytes()),
            Err(crate::am::meta::MetaError::Damaged)
        );
    }

    #[test]
    fn sketched_meta_and_slots() {
        // 384-d cosine: 448-bit sketches (512 would leave one element a page), the centroid
        // after the meta page.
        let mut m = MetaPage::new(384, 16, 64, Metric::CosineF32);
        assert!(m.set_sketched());
        assert_eq!(m.version, VERSION_SKETCH);
        assert_eq!((m.sketch_bits, m.sketch_len()), (448, 64));
        let size = |m: &MetaPage, level| {
            maxalign(element_tuple_size(8 + 4 * m.dimensions as usize, 0))
                + maxalign(Shape::of(m).tuple_size(level))
        };
        assert_eq!(size(&m, 0), 1624 + 2248);
        assert_eq!(2 * (size(&m, 0) + 2 * LINE_POINTER), 7760);
        // 1536-d: 1024 bits (an element's list on a page of its own); 768-d: 1024 bits (two
        // elements a page without sketches, one with).
        let mut big = MetaPage::new(1536, 16, 64, Metric::L2F32);
        assert!(big.set_sketched());
        assert_eq!(big.sketch_bits, 1024);
        let mut mid = MetaPage::new(768, 16, 64, Metric::L2F32);
        assert!(mid.set_sketched());
        assert_eq!(mid.sketch_bits, 1024);
        // Damaged sketch bits.
        let mut odd = m;
        odd.sketch_bits = 100;
        assert_eq!(
            MetaPage::from_bytes(&odd.to_bytes()),
            Err(crate::am::meta::MetaError::Damaged)
        );
        let centroid: Vec<f32> = (0..384).map(|i| i as f32 / 7.0).collect();
        let mut page = meta_contents(&m, &centroid);
        page.resize(META_ROOM, 0);
        let back = MetaPage::from_bytes(&page).unwrap();
        assert_eq!(back, m);
        assert_eq!(meta_centroid(&page, &back).as_deref(), Some(&centroid[..]));
        // No sketches: for inner product, short values, quantized or keyed indexes, or a
        // centroid that does not fit the meta page.
        assert!(!MetaPage::new(384, 16, 64, Metric::IpF32).set_sketched());
        assert!(!MetaPage::new(63, 16, 64, Metric::L2F32).set_sketched());
        assert!(MetaPage::new(64, 16, 64, Metric::L2F32).set_sketched());
        assert!(MetaPage::new(2000, 16, 64, Metric::L2F32).set_sketched());
        assert!(!MetaPage::new(2001, 16, 64, Metric::L2F32).set_sketched());
        assert!(!MetaPage::new(2100, 16, 64, Metric::L2F32).set_sketched());
        assert!(MetaPage::new(1536, 16, 64, Metric::L2F16).set_sketched());
        let mut k = MetaPage::new(384, 16, 64, Metric::L2F32);
        k.set_keys(1, 8);
        assert!(!k.set_sketched());
        let mut bad = m;
        bad.metric = Metric::IpF32 as u16;
        assert_eq!(
            MetaPage::from_bytes(&bad.to_bytes()),
            Err(crate::am::meta::MetaError::Damaged)
        );

        // Sketches follow all slots, one per layer-0 slot, zero until written.
        let shape = Shape::of(&m);
        assert_eq!(shape.tuple_size(1), 4 + 48 * 6 + 32 * 64);
        let mut t = shape.encode(1, &[vec![Tid::new(1, 1)], vec![Tid::new(2, 2)]], &[]);
        assert_eq!(t.len(), shape.tuple_size(1));
        assert_eq!(shape.level_of(neighbor_slot_count(&t), t.len()), Some(1));
        assert_eq!(shape.level_of(neighbor_slot_count(&t), t.len() - 1), None);
        assert!(shape.sketches(&t).iter().all(|&b| b == 0));
        assert_eq!(shape.sketches(&t).len(), 32 * 64);
        shape.set_sketch(&mut t, 3, Some(&[7u8; 64]));
        assert_eq!(shape.sketch(&t, 3), Some(&[7u8; 64][..]));
        assert_eq!(shape.sketches(&t)[3 * 64..4 * 64], [7u8; 64]);
        assert_eq!(&t[4 + 48 * 6 + 3 * 64..4 + 48 * 6 + 4 * 64], &[7u8; 64]);
        shape.set_sketch(&mut t, 3, None);
        assert_eq!(shape.sketch(&t, 3), Some(&[0u8; 64][..]));
        assert_eq!(shape.sketch(&t, 32), None);
        assert_eq!(shape.tids(&t, List::Layer(1))[0], Tid::new(2, 2));
        assert_eq!(
            shape.slot_of(&t, List::Layer(0), Tid::new(1, 1).pack()),
            Some(0)
        );
        assert_eq!(
            shape.slot_of(&t, List::Layer(1), Tid::new(2, 2).pack()),
            Some(32)
        );
        assert_eq!(
            shape.slot_of(&t, List::Layer(0), Tid::new(2, 2).pack()),
            None
        );

        // Slots of several neighbours: in list order, out of order, and missing ones.
        let list: Vec<Tid> = (1..=5).map(|i| Tid::new(i, i as u16)).collect();
        let t = shape.encode(0, std::slice::from_ref(&list), &[]);
        let slots = |ids: &[Tid]| {
            let ids: Vec<u64> = ids.iter().map(|t| t.pack()).collect();
            let mut out = Vec::new();
            shape.slots_of(&t, List::Layer(0), &ids, |s| out.push(s));
            out
        };
        assert_eq!(
            slots(&[list[0], list[2], list[4]]),
            vec![Some(0), Some(2), Some(4)]
        );
        assert_eq!(
            slots(&[list[3], list[1], Tid::new(9, 9), list[4]]),
            vec![Some(3), Some(1), None, Some(4)]
        );
        assert_eq!(slots(&[]), Vec::<Option<usize>>::new());
    }

    #[test]
    fn element_round_trips() {
        let e = Element {
            level: 2,
            deleted: false,
            version: 1,
            format: FORMAT_PLAIN,
            heap_tids: vec![Tid::new(70000, 3), Tid::new(1, 1)],
            neighbors: Tid::new(9, 4),
        };
        let value = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let b = encode_element(&e, &value, &[]);
        assert_eq!(b.len() % 8, 0);
        assert_eq!(decode_element(&b).unwrap(), e);
        assert_eq!(element_value(&b), &value);
        assert_eq!(element_heap_tid(&b, 0), Tid::new(70000, 3));
        assert_eq!(element_heap_tid(&b, 1), Tid::new(1, 1));
        // Ten heap TIDs fit, and the value is untouched by them.
        let mut full = b.clone();
        let tids: Vec<Tid> = (0..HEAP_TIDS as u32).map(|i| Tid::new(i, 1)).collect();
        set_element_heap_tids(&mut full, &tids);
        assert_eq!(decode_element(&full).unwrap().heap_tids, tids);
        assert_eq!(element_value(&full), &value);
        let mut b2 = b.clone();
        set_element_deleted(&mut b2);
        let d = decode_element(&b2).unwrap();
        assert!(d.deleted && d.heap_tids.is_empty());
        assert!(element_value(&b2).iter().all(|x| *x == 0));
        // A key blob precedes the value (8-aligned) and survives rewriting the heap TIDs.
        let keys = [9u8, 8, 7, 6, 5, 4, 3, 2, 1];
        let mut k = encode_element(&e, &value, &keys);
        assert_eq!(k.len(), element_tuple_size(value.len(), keys.len()));
        assert_eq!(element_keys(&k), &keys);
        set_element_heap_tids(&mut k, &tids);
        assert_eq!(element_keys(&k), &keys);
        assert_eq!(element_value(&k), &value);
        assert!(element_keys(&b).is_empty());
        // A truncated tuple is not an element.
        assert!(decode_element(&b[..b.len() - 40]).is_none());
    }

    #[test]
    fn long_codes_split_into_parts() {
        // sq8 codes: 8,074 dimensions fit an element tuple, 8,075 and up are split.
        assert_eq!(code_format(8074, 0), FORMAT_CODE);
        assert_eq!(code_format(8074, 9), FORMAT_CODE_PARTS);
        assert_eq!(code_format(8075, 0), FORMAT_CODE_PARTS);
        assert_eq!(code_parts(16000), 2);
        let parts = [Tid::new(40, 1), Tid::new(70000, 1)];
        let dir = encode_directory(&parts);
        assert_eq!(dir.len(), directory_len(16000));
        assert_eq!(decode_directory(&dir), parts);
        assert!(decode_directory(&dir[..7]).is_empty());
        let code: Vec<u8> = (0..PART_MAX).map(|i| i as u8).collect();
        let t = encode_code_part(1, &code);
        assert_eq!(code_part(&t, 1), Some(&code[..]));
        assert_eq!(code_part(&t, 0), None);
        // A deleted element keeps its directory (the parts are reused with the slot).
        let e = Element {
            level: 0,
            deleted: false,
            version: 0,
            format: FORMAT_CODE_PARTS,
            heap_tids: vec![Tid::new(1, 1)],
            neighbors: Tid::new(2, 2),
        };
        let mut b = encode_element(&e, &dir, &[]);
        set_element_deleted(&mut b);
        assert_eq!(decode_directory(element_value(&b)), parts);
    }

    #[test]
    fn images_too_long_for_a_page_are_split() {
        use crate::am::meta::MetaError;
        // 2,000 float4 dimensions (pgvector's limit) fit an element tuple; 2,100 do not.
        assert!(!values_split(8 + 4 * 2000, 0));
        assert!(values_split(8 + 4 * 2100, 0));
        let fits = MetaPage::new(2000, 16, 64, Metric::L2F32);
        assert_eq!((fits.version, fits.code_format()), (VERSION, FORMAT_PLAIN));
        assert_eq!((fits.stored_len(), fits.parts()), (None, 0));
        // 16,000 dimensions: the image is split, 8 parts of float4, 4 of float2.
        let wide = MetaPage::new(16000, 16, 64, Metric::L2F32);
        assert_eq!(wide.version, VERSION_VALUE_PARTS);
        assert_eq!(wide.code_format(), FORMAT_CODE_PARTS);
        assert_eq!((wide.stored_len(), wide.parts()), (Some(64008), 8));
        assert_eq!(wide.value_len_hint(), directory_len(64008));
        assert_eq!(MetaPage::from_bytes(&wide.to_bytes()), Ok(wide));
        let half = MetaPage::new(16000, 16, 64, Metric::CosineF16);
        assert_eq!((half.version, half.parts()), (VERSION_VALUE_PARTS, 4));
        // A key blob can push an image that fits alone over the page: split, with keys.
        let mut keyed = fits;
        keyed.set_keys(1, 200);
        keyed.key_head = 7;
        assert_eq!((keyed.version, keyed.parts()), (VERSION_VALUE_PARTS, 1));
        assert_eq!(MetaPage::from_bytes(&keyed.to_bytes()), Ok(keyed));
        // Sparse images vary and are never split.
        let sparse = MetaPage::new(1_000_000, 16, 64, Metric::L2Sparse);
        assert_eq!((sparse.version, sparse.parts()), (VERSION, 0));
        // A version 4 page must describe split images.
        let mut bad = wide;
        bad.quantization = FORMAT_PLAIN as u16;
        assert_eq!(
            MetaPage::from_bytes(&bad.to_bytes()),
            Err(MetaError::Damaged)
        );
        let mut bad = wide;
        bad.dimensions = 2000;
        assert_eq!(
            MetaPage::from_bytes(&bad.to_bytes()),
            Err(MetaError::Damaged)
        );
        // Version 1 never read the field for unquantized indexes: it means plain images.
        let mut old = fits;
        old.quantization = 9;
        assert_eq!(
            MetaPage::from_bytes(&old.to_bytes()).unwrap().code_format(),
            FORMAT_PLAIN
        );
    }

    #[test]
    fn neighbor_layers_round_trip() {
        let shape = Shape::plain(2);
        let layers = vec![
            vec![Tid::new(1, 1), Tid::new(1, 3), Tid::new(2, 1)],
            vec![Tid::new(5, 5)],
        ];
        let b = shape.encode(1, &layers, &[]);
        assert_eq!(b.len(), shape.tuple_size(1));
        let mut out = Vec::new();
        shape.read(&b, List::Layer(0), &mut out);
        assert_eq!(out, layers[0].iter().map(|t| t.pack()).collect::<Vec<_>>());
        out.clear();
        shape.read(&b, List::Layer(1), &mut out);
        assert_eq!(out, vec![Tid::new(5, 5).pack()]);
        assert_eq!(all_neighbor_tids(&b).count(), 4);
        let mut b2 = b.clone();
        shape.set(&mut b2, List::Layer(1), &[Tid::new(6, 6), Tid::new(7, 7)]);
        assert_eq!(
            shape.tids(&b2, List::Layer(1)),
            vec![Tid::new(6, 6), Tid::new(7, 7)]
        );
        assert_eq!(Tid::unpack(Tid::new(70000, 9).pack()), Tid::new(70000, 9));
        // A count larger than the tuple holds reads only what is there.
        let short = &b[..4 + 2 * TID_SIZE];
        out.clear();
        shape.read(short, List::Layer(0), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(all_neighbor_tids(short).count(), 2);
        assert!(shape.tids(short, List::Layer(1)).is_empty());
    }

    #[test]
    fn key_lists_follow_the_layers() {
        let shape = Shape {
            m: 2,
            key_lists: 2,
            key_m: 3,
            sketch_len: 0,
        };
        let layers = vec![vec![Tid::new(1, 1)]];
        let keys = vec![vec![Tid::new(3, 1), Tid::new(3, 2)], vec![Tid::new(4, 4)]];
        let b = shape.encode(0, &layers, &keys);
        assert_eq!(b.len(), 4 + (2 * 2 + 2 * 3) * TID_SIZE);
        let mut out = Vec::new();
        shape.read(&b, List::Key(0), &mut out);
        assert_eq!(out, vec![Tid::new(3, 1).pack(), Tid::new(3, 2).pack()]);
        out.clear();
        shape.read(&b, List::Key(1), &mut out);
        assert_eq!(out, vec![Tid::new(4, 4).pack()]);
        assert_eq!(
            shape.key_links(&b),
            vec![
                vec![Tid::new(3, 1).pack(), Tid::new(3, 2).pack()],
                vec![Tid::new(4, 4).pack()]
            ]
        );
        assert_eq!(shape.level_of(slot_count(&b), b.len()), Some(0));
        assert_eq!(shape.level_of(slot_count(&b) + 1, 1000), None);
        assert_eq!(shape.level_of(slot_count(&b), b.len() - 1), None);
        // A layer above the element's reads nothing, not the key lists.
        assert!(shape.tids(&b, List::Layer(1)).is_empty());
        assert!(shape.tids(&b, List::Key(2)).is_empty());
        let mut b2 = b.clone();
        shape.set(&mut b2, List::Key(1), &[Tid::new(9, 9)]);
        assert_eq!(shape.tids(&b2, List::Key(0)), shape.tids(&b, List::Key(0)));
        assert_eq!(
            shape.tids(&b2, List::Layer(0)),
            shape.tids(&b, List::Layer(0))
        );
        assert_eq!(shape.tids(&b2, List::Key(1))[0], Tid::new(9, 9));
        assert_eq!(all_neighbor_tids(&b).count(), 4);
        // A level 1 element: the key lists come after layer 1.
        let b = shape.encode(1, &[vec![], vec![Tid::new(5, 5)]], &keys);
        assert_eq!(shape.tids(&b, List::Layer(1))[0], Tid::new(5, 5));
        assert_eq!(shape.tids(&b, List::Key(1))[0], Tid::new(4, 4));
    }
}
