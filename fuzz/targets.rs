//! Fuzz target bodies, shared by `cargo fuzz` (`fuzz_targets/`) and the replay of the seed
//! corpus in the test command (`tests/fuzz_corpus.rs`). Every input parser and every on-page
//! decoder of ruvector gets arbitrary bytes: it must return a value or an error and never
//! panic (a panic in the server is caught, but reaches the user as a damaged index, not as the
//! error the input deserves); what the parsers accept must print and parse back bit-exactly,
//! and what the page decoders accept must re-encode to the bytes they read.

#![allow(dead_code)]

use ruvector::am::hnsw::keydir;
use ruvector::am::hnsw::layout as hnsw;
use ruvector::am::ivf::layout as ivf;
use ruvector::check::image_problem;
use ruvector::format::{binary, dense_text, sparse_text, HALFVEC, RUVECTOR, SPARSEVEC};
use ruvector::kernels::metric::ValueKind;
use ruvector::quant::Codebook;
use std::ffi::CString;

/// A target body.
pub type Target = fn(&[u8]);

/// The targets by name (the corpus directories' names).
pub const TARGETS: &[(&str, Target)] = &[
    ("text", text),
    ("binary", binary),
    ("hnsw_tuples", hnsw_tuples),
    ("ivf_tuples", ivf_tuples),
    ("codebook", codebook),
    ("keydir", keydir),
];

/// A type modifier from the input's first byte: none (-1) or 0..=127 dimensions.
fn typmod(data: &[u8]) -> i32 {
    match data.first() {
        Some(b) if b & 0x80 == 0 => (*b & 0x7f) as i32,
        _ => -1,
    }
}

/// Text input of `ruvector`, `halfvec` and `sparsevec` (`format::dense_text`,
/// `format::sparse_text`): accepted literals print and parse back to the same bits.
pub fn text(data: &[u8]) {
    let t = typmod(data);
    let lit = CString::new(
        data.iter()
            .skip(1)
            .copied()
            .filter(|b| *b != 0)
            .collect::<Vec<u8>>(),
    )
    .expect("no NUL");
    if let Ok(v) = dense_text::parse(&lit, t, RUVECTOR, dense_text::f32_element(RUVECTOR)) {
        let out = CString::new(dense_text::format(v.iter().copied())).expect("no NUL");
        let back = dense_text::parse(&out, t, RUVECTOR, dense_text::f32_element(RUVECTOR))
            .expect("printed ruvector parses");
        assert_eq!(bits32(&v), bits32(&back));
    }
    if let Ok(v) = dense_text::parse(&lit, t, HALFVEC, dense_text::f16_element(HALFVEC)) {
        let out = CString::new(dense_text::format(v.iter().map(|x| x.to_f32()))).expect("no NUL");
        let back = dense_text::parse(&out, t, HALFVEC, dense_text::f16_element(HALFVEC))
            .expect("printed halfvec parses");
        assert_eq!(
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
    if let Ok(s) = sparse_text::parse(&lit, t) {
        let out = CString::new(sparse_text::format(s.dim, &s.indices, &s.values)).expect("no NUL");
        let back = sparse_text::parse(&out, t).expect("printed sparsevec parses");
        assert_eq!((s.dim, &s.indices), (back.dim, &back.indices));
        assert_eq!(bits32(&s.values), bits32(&back.values));
    }
}

fn bits32(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Binary input (`recv`) of the three types (`format::binary`): accepted messages re-encode to
/// the bytes consumed.
pub fn binary(data: &[u8]) {
    let t = typmod(data);
    let buf = data.get(1..).unwrap_or(&[]);
    if let Ok((v, used)) = binary::decode_f32(buf, t, RUVECTOR) {
        assert_eq!(binary::encode_f32(&v), &buf[..used]);
    }
    if let Ok((v, used)) = binary::decode_f16(buf, t, HALFVEC) {
        assert_eq!(binary::encode_f16(&v), &buf[..used]);
    }
    if let Ok((s, used)) = binary::decode_sparse(buf, t) {
        assert_eq!(
            binary::encode_sparse(s.dim, &s.indices, &s.values),
            &buf[..used]
        );
        let _ = SPARSEVEC;
    }
}

/// `ruhnsw` page contents (`am::hnsw::layout`): the meta page, element tuples (header, value,
/// key blob, heap TIDs, a split code's directory), neighbour tuples of any level and `m`, code
/// parts, and the validation of value images (`check::image_problem`).
pub fn hnsw_tuples(data: &[u8]) {
    if let Ok(meta) = hnsw::MetaPage::from_bytes(data) {
        assert_eq!(
            hnsw::MetaPage::from_bytes(&meta.to_bytes()),
            Ok(meta),
            "a meta page re-reads as itself"
        );
        let _ = (meta.code_format(), meta.value_len_hint(), meta.entry());
    }
    if let Some(e) = hnsw::decode_element(data) {
        let value = hnsw::element_value(data);
        let keys = hnsw::element_keys(data);
        for i in 0..e.heap_tids.len() {
            let _ = hnsw::element_heap_tid(data, i);
        }
        let again = hnsw::encode_element(&e, value, keys);
        assert_eq!(hnsw::decode_element(&again), Some(e.clone()));
        assert_eq!(hnsw::element_value(&again), value);
        let _ = hnsw::decode_directory(value);
    }
    if hnsw::is_neighbor_tuple(data) {
        let m = (data.get(1).copied().unwrap_or(16) as usize % 48).max(1);
        // Key lists too: their count and size from the tuple's first bytes.
        let key_lists = data.get(4).copied().unwrap_or(0) as usize % 4;
        // Sketches beside the layer-0 slots (format version 5) in some shapes.
        let sketch_len = [0, 40, 64, 136][data.get(5).copied().unwrap_or(0) as usize % 4];
        let shape = hnsw::Shape {
            m,
            key_lists,
            key_m: if key_lists > 0 { 2 * m } else { 0 },
            sketch_len,
        };
        let mut out = Vec::new();
        let lists = (0..4)
            .map(hnsw::List::Layer)
            .chain((0..5).map(hnsw::List::Key));
        for list in lists {
            shape.read(data, list, &mut out);
            let _ = shape.tids(data, list);
        }
        let _ = hnsw::all_neighbor_tids(data).count();
        let _ = hnsw::neighbor_slot_count(data);
        for i in 0..2 * m + 1 {
            if let Some(s) = shape.sketch(data, i) {
                assert_eq!(s.len(), sketch_len);
            }
        }
        let _ = shape.sketches(data);
        let mut copy = data.to_vec();
        shape.set_sketch(&mut copy, 1, Some(&vec![9u8; sketch_len]));
        shape.set(&mut copy, hnsw::List::Layer(1), &[hnsw::Tid::new(1, 1)]);
        shape.set(&mut copy, hnsw::List::Key(0), &[hnsw::Tid::new(2, 2)]);
    }
    for part in 0..3 {
        let _ = hnsw::code_part(data, part);
    }
    let dims = typmod(data).max(0) as usize;
    let image = data.get(1..).unwrap_or(&[]);
    for kind in [
        ValueKind::DenseF32,
        ValueKind::DenseF16,
        ValueKind::Sparse,
        ValueKind::Bits,
    ] {
        let _ = image_problem(kind, dims, image);
    }
}

/// `ruivfflat` page contents (`am::ivf::layout`): the meta page, list tuples, data tuples.
pub fn ivf_tuples(data: &[u8]) {
    if let Ok(meta) = ivf::MetaPage::from_bytes(data) {
        assert_eq!(ivf::MetaPage::from_bytes(&meta.to_bytes()), Ok(meta));
    }
    if let Some(h) = ivf::list_header(data) {
        let centre = ivf::image(data);
        assert_eq!(ivf::encode_list(h, centre), data);
    }
    let t = ivf::data_heap_tid(data);
    let keys = ivf::data_keys(data);
    let value = ivf::data_image(data);
    if data.len() >= ivf::TUPLE_HEADER && keys.len() + value.len() < data.len() {
        let again = ivf::encode_data(t, keys, value);
        assert_eq!(ivf::data_keys(&again), keys);
        assert_eq!(ivf::data_image(&again), value);
    }
}

/// Serialised codebooks (`quant::Codebook`, read from codebook pages): accepted ones
/// re-serialise to the same bytes and encode and decode vectors of their dimensions.
pub fn codebook(data: &[u8]) {
    if let Some(cb) = Codebook::from_bytes(data) {
        assert_eq!(cb.to_bytes(), data);
        let dims = cb.dims();
        if dims <= 4096 {
            let x: Vec<f32> = (0..dims).map(|i| (i as f32).sin()).collect();
            let code = cb.encode(&x);
            assert_eq!(code.len(), cb.code_len());
            assert_eq!(cb.decode(&code).len(), dims);
        }
    }
}

/// Key directory pages (`am::hnsw::keydir`): a slot table page's contents and an entry page's
/// contents; what decodes re-encodes to the same slots and entries.
pub fn keydir(data: &[u8]) {
    if let Some(slots) = keydir::table_slots(data) {
        assert_eq!(
            keydir::table_slots(&keydir::encode_table(&slots)),
            Some(slots),
            "a slot table re-reads as itself"
        );
    }
    if let Some(entries) = keydir::entries(data) {
        assert_eq!(entries.len() % keydir::ENTRY, 0);
        for e in entries.chunks_exact(keydir::ENTRY) {
            let (element, word) = keydir::read_entry(e);
            assert_eq!(
                keydir::entry(element, word),
                e,
                "an entry re-encodes as itself"
            );
        }
        assert_eq!(keydir::entries(&keydir::encode(entries)), Some(entries));
    }
}
