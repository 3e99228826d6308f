//! The short fuzz run of the test command, on stable Rust: the seed corpus in `fuzz/corpus/`
//! (valid inputs of every target, and what `cargo fuzz` runs added) replayed through the fuzz
//! target bodies (`fuzz/targets.rs`), then random bytes and mutated seeds — a few thousand per
//! target. The long runs use `cargo fuzz` (see `fuzz/Cargo.toml`).
//!
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus` rewrites the hand-made seeds.

#[path = "../fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;
use std::path::PathBuf;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus(target))
        .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Every target's seeds, read once.
fn all_seeds() -> &'static [Vec<Vec<u8>>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<Vec<u8>>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        targets::TARGETS
            .iter()
            .map(|(name, _)| seeds(name))
            .collect()
    })
}

#[test]
fn seed_corpus_replays() {
    for (name, f) in targets::TARGETS {
        let seeds = seeds(name);
        assert!(seeds.len() >= 5, "{name}: {} seeds", seeds.len());
        for s in &seeds {
            f(s);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20000))]

    #[test]
    fn random_bytes(which in 0..targets::TARGETS.len(), data in proptest::collection::vec(any::<u8>(), 0..700)) {
        (targets::TARGETS[which].1)(&data);
    }

    #[test]
    fn mutated_seeds(
        which in 0..targets::TARGETS.len(),
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let f = targets::TARGETS[which].1;
        let seeds = &all_seeds()[which];
        let mut s = seeds[pick % seeds.len()].clone();
        for (at, b) in edits {
            if !s.is_empty() {
                let i = at % s.len();
                s[i] = b;
            }
        }
        if cut % 4 == 0 && !s.is_empty() {
            s.truncate(cut % s.len());
        }
        f(&s);
    }
}

/// Writes the hand-made seeds: valid inputs of every target.
#[test]
#[ignore]
fn write_seed_corpus() {
    use ruvector::am::hnsw::layout as hnsw;
    use ruvector::am::ivf::layout as ivf;
    use ruvector::format::binary;
    use ruvector::kernels::metric::Metric;
    use ruvector::quant::{Codebook, Quantization};
    let write = |target: &str, name: &str, bytes: &[u8]| {
        std::fs::create_dir_all(corpus(target)).unwrap();
        std::fs::write(corpus(target).join(name), bytes).unwrap();
    };
    // text: first byte 0xFF (no type modifier) or the dimensions.
    for (i, lit) in [
        "[1,2,3]",
        "[ 1.5e-3 , -2 ,3.25]",
        "[1e38,-1e-38,0]",
        "{1:1.5,3:-2}/5",
        "{}/3",
        "[NaN]",
        "[1,2",
        "{2:1,1:2}/3",
        "[65504,-65504]",
    ]
    .iter()
    .enumerate()
    {
        let mut b = vec![0xFF];
        b.extend_from_slice(lit.as_bytes());
        write("text", &format!("seed{i}"), &b);
    }
    write("text", "typmod3", b"\x03[1,2,3]");
    // binary: a typmod byte, then the recv message.
    let mut b = vec![0xFF];
    b.extend(binary::encode_f32(&[1.0, -2.5, 3.0]));
    write("binary", "f32", &b);
    let mut b = vec![0x02];
    b.extend(binary::encode_f16(&[
        half::f16::from_f32(1.0),
        half::f16::from_f32(0.5),
    ]));
    write("binary", "f16", &b);
    let mut b = vec![0xFF];
    b.extend(binary::encode_sparse(10, &[0, 4, 9], &[1.0, 2.0, -3.0]));
    write("binary", "sparse", &b);
    write(
        "binary",
        "empty_sparse",
        &[&[0xFF][..], &binary::encode_sparse(5, &[], &[])].concat(),
    );
    write("binary", "short", &[0xFF, 0, 3, 0]);
    // ruhnsw: meta pages, elements (plain, with keys, with many heap TIDs, deleted, a split
    // code's directory), neighbour tuples.
    let mut meta = hnsw::MetaPage::new(50, 16, 64, Metric::CosineF32);
    meta.set_entry(Some((hnsw::Tid::new(3, 7), 2)));
    write("hnsw_tuples", "meta", &meta.to_bytes());
    let mut keyed = meta;
    keyed.set_keys(2, 17);
    (keyed.key_head, keyed.key_tail) = (5, 5);
    write("hnsw_tuples", "meta_keys", &keyed.to_bytes());
    let image = |xs: &[f32]| {
        let mut b = (((8 + 4 * xs.len()) as u32) << 2).to_ne_bytes().to_vec();
        b.extend_from_slice(&(xs.len() as u16).to_ne_bytes());
        b.extend_from_slice(&[0, 0]);
        for x in xs {
            b.extend_from_slice(&x.to_ne_bytes());
        }
        b
    };
    let e = hnsw::Element {
        level: 1,
        deleted: false,
        version: 1,
        format: hnsw::FORMAT_PLAIN,
        heap_tids: vec![hnsw::Tid::new(7, 3)],
        neighbors: hnsw::Tid::new(1, 2),
    };
    write(
        "hnsw_tuples",
        "element",
        &hnsw::encode_element(&e, &image(&[0.6, 0.8, 0.0]), &[]),
    );
    let many = hnsw::Element {
        heap_tids: (1..=10).map(|i| hnsw::Tid::new(i, 1)).collect(),
        ..e.clone()
    };
    write(
        "hnsw_tuples",
        "element_keys",
        &hnsw::encode_element(&many, &image(&[1.0]), &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0]),
    );
    let mut deleted = hnsw::encode_element(&e, &image(&[0.6, 0.8, 0.0]), &[]);
    hnsw::set_element_deleted(&mut deleted);
    write("hnsw_tuples", "element_deleted", &deleted);
    let parts = hnsw::encode_directory(&[hnsw::Tid::new(40, 1), hnsw::Tid::new(41, 1)]);
    let split = hnsw::Element {
        format: hnsw::FORMAT_CODE_PARTS,
        ..e.clone()
    };
    write(
        "hnsw_tuples",
        "element_parts",
        &hnsw::encode_element(&split, &parts, &[]),
    );
    let layers = vec![
        vec![hnsw::Tid::new(1, 1), hnsw::Tid::new(2, 3)],
        vec![hnsw::Tid::new(5, 5)],
    ];
    write(
        "hnsw_tuples",
        "neighbors",
        &hnsw::Shape::plain(4).encode(1, &layers, &[]),
    );
    let key_shape = hnsw::Shape {
        m: 4,
        key_lists: 2,
        key_m: 8,
        sketch_len: 0,
    };
    let sketched = hnsw::Shape {
        m: 4,
        key_lists: 0,
        key_m: 0,
        sketch_len: 40,
    };
    let mut with_sketches = sketched.encode(1, &layers, &[]);
    sketched.set_sketch(&mut with_sketches, 0, Some(&[0x5a; 40]));
    write("hnsw_tuples", "neighbors_sketches", &with_sketches);
    write(
        "hnsw_tuples",
        "neighbors_key_links",
        &key_shape.encode(1, &layers, &[vec![hnsw::Tid::new(7, 1)], vec![]]),
    );
    write(
        "hnsw_tuples",
        "code_part",
        &hnsw::encode_code_part(1, &[7; 40]),
    );
    write(
        "hnsw_tuples",
        "image",
        &[&[3u8][..], &image(&[1.0, 2.0, 3.0])].concat(),
    );
    // ruivfflat: meta pages, a list tuple, data tuples with and without keys.
    let im = ivf::MetaPage::new(3, 10, Metric::L2F32);
    write("ivf_tuples", "meta", &im.to_bytes());
    let mut ik = im;
    ik.set_keys(1, 8);
    write("ivf_tuples", "meta_keys", &ik.to_bytes());
    write(
        "ivf_tuples",
        "list",
        &ivf::encode_list(
            ivf::ListHeader {
                start: 4,
                insert: 9,
            },
            &image(&[1.0, 0.0, 0.0]),
        ),
    );
    write(
        "ivf_tuples",
        "data",
        &ivf::encode_data(ivf::Tid::new(3, 9), &[], &image(&[1.0, 2.0, 3.0])),
    );
    write(
        "ivf_tuples",
        "data_keys",
        &ivf::encode_data(
            ivf::Tid::new(3, 9),
            &[5, 0, 0, 0, 0, 0, 0, 0, 0],
            &image(&[1.0, 2.0, 3.0]),
        ),
    );
    // Codebooks of each quantization, trained on a small sample.
    let dims = 8;
    let sample: Vec<f32> = (0..dims * 64)
        .map(|i| ((i * 7919) % 100) as f32 / 50.0 - 1.0)
        .collect();
    for (name, q) in [
        ("sq8", Quantization::Sq8),
        ("pq2", Quantization::Pq(2)),
        ("binary", Quantization::Binary),
    ] {
        let cb = Codebook::train(q, dims, &sample, None, &mut || {});
        write("codebook", name, &cb.to_bytes());
    }
    write("codebook", "short", &[0; 16]);
    // keydir: slot tables and entry pages as a build writes them, and damaged ones.
    use ruvector::am::hnsw::keydir;
    let slots: Vec<keydir::Slot> = (0..64u32)
        .map(|i| keydir::Slot {
            head: if i % 3 == 0 { u32::MAX } else { 10 + i },
            tail: if i % 3 == 0 { u32::MAX } else { 20 + i },
            entries: i * 7,
        })
        .collect();
    write("keydir", "table", &keydir::encode_table(&slots));
    write("keydir", "table_empty", &keydir::encode_table(&[]));
    let mut entries = Vec::new();
    for i in 0..40u32 {
        entries.extend_from_slice(&keydir::entry(
            hnsw::Tid::new(1 + i / 8, 1 + (i % 8) as u16),
            (i as u64 % 5) * 0x9E37_79B9,
        ));
    }
    write("keydir", "entries", &keydir::encode(&entries));
    write(
        "keydir",
        "entries_one",
        &keydir::encode(&entries[..keydir::ENTRY]),
    );
    let mut long = keydir::encode(&entries);
    long[0] = 0xFF; // more entries than the page holds
    write("keydir", "entries_count_damaged", &long);
    let mut width = keydir::encode(&entries);
    width[4] = 13; // an entry length other than ENTRY
    write("keydir", "entries_width_damaged", &width);
    write(
        "codebook",
        "magic_only",
        &Codebook::train(Quantization::Sq8, 2, &[0.0, 1.0], None, &mut || {}).to_bytes()[..20],
    );
}
