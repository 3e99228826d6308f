//! Property tests of the text and binary parsers (`ruvector_core::format`): arbitrary strings and
//! bytes never panic and never yield an invalid value; valid values round-trip bit-exactly.
//! (The pgrx layer only copies bytes in and out of these functions.)

use half::f16;
use proptest::prelude::*;
use ruvector_core::format::{
    binary, dense_text, float, sparse_text, HALFVEC, RUVECTOR, SPARSE_MAX_NNZ,
};
use std::ffi::CString;

fn cstring(s: &[u8]) -> CString {
    CString::new(s.iter().copied().filter(|b| *b != 0).collect::<Vec<u8>>()).unwrap()
}

fn parse_f32(s: &CString, typmod: i32) -> Result<Vec<f32>, ruvector_core::format::VecError> {
    dense_text::parse(s, typmod, RUVECTOR, dense_text::f32_element(RUVECTOR))
}

fn parse_f16(s: &CString) -> Result<Vec<f16>, ruvector_core::format::VecError> {
    dense_text::parse(s, -1, HALFVEC, dense_text::f16_element(HALFVEC))
}

fn valid_dense(x: &[f32]) -> bool {
    (1..=16000).contains(&x.len()) && x.iter().all(|v| v.is_finite())
}

/// Strings built from the characters vector literals are made of, so that the generator often
/// reaches deep into the grammar instead of failing at the first byte.
fn literalish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(b"[]{}/:,.-+eE0123456789 \t\ninfINFnaNx".to_vec()),
        0..64,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn dense_text_never_panics(bytes in prop_oneof![any::<Vec<u8>>(), literalish()]) {
        let s = cstring(&bytes);
        if let Ok(x) = parse_f32(&s, -1) {
            prop_assert!(valid_dense(&x));
        }
        if let Ok(x) = parse_f16(&s) {
            prop_assert!(x.iter().all(|v| v.is_finite()) && !x.is_empty());
        }
    }

    #[test]
    fn sparse_text_never_panics(bytes in prop_oneof![any::<Vec<u8>>(), literalish()]) {
        if let Ok(v) = sparse_text::parse(&cstring(&bytes), -1) {
            prop_assert!(v.dim >= 1);
            prop_assert!(v.indices.len() == v.values.len());
            prop_assert!(v.indices.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(v.indices.iter().all(|i| *i >= 0 && *i < v.dim));
            prop_assert!(v.values.iter().all(|x| x.is_finite() && *x != 0.0));
        }
    }

    #[test]
    fn binary_decoders_never_panic(bytes in any::<Vec<u8>>(), typmod in prop_oneof![Just(-1), 1..20i32]) {
        if let Ok((x, used)) = binary::decode_f32(&bytes, typmod, RUVECTOR) {
            prop_assert!(valid_dense(&x) && used == 4 + 4 * x.len() && used <= bytes.len());
        }
        if let Ok((x, used)) = binary::decode_f16(&bytes, typmod, HALFVEC) {
            prop_assert!(used == 4 + 2 * x.len() && used <= bytes.len());
        }
        if let Ok((v, used)) = binary::decode_sparse(&bytes, typmod) {
            prop_assert!(used == 12 + 8 * v.indices.len() && used <= bytes.len());
            prop_assert!(v.indices.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(v.values.iter().all(|x| *x != 0.0 && x.is_finite()));
        }
    }

    #[test]
    fn structured_binary_sparse_never_panics(
        dim in -3..50i32, nnz in -2..60i32, unused in prop_oneof![Just(0), any::<i32>()],
        body in prop::collection::vec(any::<i32>(), 0..120)
    ) {
        let mut bytes = Vec::new();
        for w in [dim, nnz, unused].iter().chain(&body) {
            bytes.extend_from_slice(&w.to_be_bytes());
        }
        let _ = binary::decode_sparse(&bytes, -1);
    }

    #[test]
    fn shortest_float_round_trips(bits in any::<u32>()) {
        let x = f32::from_bits(bits);
        prop_assume!(x.is_finite());
        let mut s = String::new();
        float::write_shortest(&mut s, x);
        let c = CString::new(s.clone()).unwrap();
        let back = float::strtof_at(&c, 0).unwrap();
        prop_assert_eq!(back.value.to_bits(), bits, "{} did not round-trip", s);
        prop_assert_eq!(back.end, s.len());
    }

    #[test]
    fn dense_text_round_trips(x in prop::collection::vec(any::<u32>().prop_map(f32::from_bits)
                                  .prop_filter("finite", |v| v.is_finite()), 1..200)) {
        let text = dense_text::format(x.iter().copied());
        let back = parse_f32(&CString::new(text).unwrap(), x.len() as i32).unwrap();
        prop_assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        x.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        let (dec, used) = binary::decode_f32(&binary::encode_f32(&x), -1, RUVECTOR).unwrap();
        prop_assert_eq!(used, 4 + 4 * x.len());
        prop_assert_eq!(dec.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        x.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    #[test]
    fn halfvec_text_round_trips(x in prop::collection::vec(any::<u16>().prop_map(f16::from_bits)
                                  .prop_filter("finite", |v| v.is_finite()), 1..200)) {
        let text = dense_text::format(x.iter().map(|v| v.to_f32()));
        let back = parse_f16(&CString::new(text).unwrap()).unwrap();
        prop_assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        x.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        let (dec, _) = binary::decode_f16(&binary::encode_f16(&x), -1, HALFVEC).unwrap();
        prop_assert_eq!(dec, x);
    }

    #[test]
    fn sparse_round_trips(entries in prop::collection::btree_map(0..1000i32, -1e6f32..1e6, 0..100),
                          extra in 0..1000i32) {
        let entries: Vec<(i32, f32)> = entries.into_iter().filter(|e| e.1 != 0.0).collect();
        let dim = entries.last().map_or(1, |e| e.0 + 1) + extra;
        let (idx, val): (Vec<i32>, Vec<f32>) = entries.into_iter().unzip();
        prop_assert!(idx.len() <= SPARSE_MAX_NNZ as usize);
        let text = sparse_text::format(dim, &idx, &val);
        let back = sparse_text::parse(&CString::new(text).unwrap(), -1).unwrap();
        prop_assert_eq!((back.dim, &back.indices, &back.values), (dim, &idx, &val));
        let (dec, _) = binary::decode_sparse(&binary::encode_sparse(dim, &idx, &val), dim).unwrap();
        prop_assert_eq!((dec.dim, dec.indices, dec.values), (dim, idx, val));
    }
}

#[test]
fn dimension_limits() {
    let max: String = format!("[{}]", vec!["1"; 16000].join(","));
    assert_eq!(
        parse_f32(&CString::new(max).unwrap(), -1).unwrap().len(),
        16000
    );
    let over: String = format!("[{}]", vec!["1"; 16001].join(","));
    assert_eq!(
        parse_f32(&CString::new(over).unwrap(), -1)
            .unwrap_err()
            .message,
        "vector cannot have more than 16000 dimensions"
    );
    let commas = format!("{{{}}}/20000", vec!["1:1"; 16001].join(","));
    assert_eq!(
        sparse_text::parse(&CString::new(commas).unwrap(), -1)
            .unwrap_err()
            .message,
        "sparsevec cannot have more than 16000 non-zero elements"
    );
}
