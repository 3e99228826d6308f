// Wire formats: byte-exact send output, binary COPY round trips through the real server, recv
// errors, and the text output of floats checked against PostgreSQL's own float4out.

/// `ruvector [1,-2,3.5]` in pgvector's binary format: int16 dim, int16 unused, float4[] (BE).
const VEC_BYTES: [u8; 16] = [
    0, 3, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0, 0x40, 0x60, 0, 0,
];
/// `halfvec [1,-2,3.5]`: int16 dim, int16 unused, fp16[] (BE).
const HALF_BYTES: [u8; 10] = [0, 3, 0, 0, 0x3c, 0x00, 0xc0, 0x00, 0x43, 0x00];
/// `sparsevec {1:1.5,3:2}/5`: int32 dim, nnz, unused, 0-based int32 indices, float4 values.
const SPARSE_BYTES: [u8; 28] = [
    0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x3f, 0xc0, 0, 0, 0x40, 0, 0, 0,
];

#[pg_test]
fn send_functions_emit_pgvector_bytes() {
    let get = |q: &str| Spi::get_one::<Vec<u8>>(q).unwrap().unwrap();
    assert_eq!(get("SELECT ruvector_send('[1,-2,3.5]')"), VEC_BYTES);
    assert_eq!(get("SELECT halfvec_send('[1,-2,3.5]')"), HALF_BYTES);
    assert_eq!(get("SELECT sparsevec_send('{3:2,1:1.5}/5')"), SPARSE_BYTES);
}

/// A COPY ... (FORMAT binary) file with one int4 column and the given raw fields per row
/// (`None` = NULL), as PostgreSQL documents the format ("COPY", File Formats, Binary Format).
fn copy_file(rows: &[(i32, Vec<Option<&[u8]>>)]) -> Vec<u8> {
    let mut f = b"PGCOPY\n\xff\r\n\0".to_vec();
    f.extend_from_slice(&0i32.to_be_bytes()); // flags
    f.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for (id, fields) in rows {
        f.extend_from_slice(&(1 + fields.len() as i16).to_be_bytes());
        f.extend_from_slice(&4i32.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        for field in fields {
            match field {
                Some(b) => {
                    f.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    f.extend_from_slice(b);
                }
                None => f.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }
    f.extend_from_slice(&(-1i16).to_be_bytes());
    f
}

fn scratch_path(name: &str) -> String {
    let dir = std::env::temp_dir();
    format!("{}/ruvector_{}_{}", dir.display(), std::process::id(), name)
}

#[pg_test]
fn binary_copy_round_trips_byte_for_byte() {
    // Second row: the smallest subnormal, negative zero and the largest finite halfvec value.
    let v2: Vec<u8> = [
        vec![0, 3, 0, 0],
        1u32.to_be_bytes().to_vec(),
        (-0.0f32).to_bits().to_be_bytes().to_vec(),
        (-3.4e38f32).to_bits().to_be_bytes().to_vec(),
    ]
    .concat();
    let h2: [u8; 10] = [0, 3, 0, 0, 0x00, 0x01, 0x80, 0x00, 0x7b, 0xff];
    let s2: [u8; 20] = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbf, 0x80, 0, 0];
    let input = copy_file(&[
        (1, vec![Some(&VEC_BYTES), Some(&HALF_BYTES), Some(&SPARSE_BYTES)]),
        (2, vec![Some(&v2), Some(&h2), Some(&s2)]),
        (3, vec![None, None, None]),
    ]);
    let (in_path, out_path) = (scratch_path("in.bin"), scratch_path("out.bin"));
    std::fs::write(&in_path, &input).unwrap();

    Spi::run("CREATE TABLE copy_t (id int, v ruvector, h halfvec, s sparsevec)").unwrap();
    Spi::run(&format!("COPY copy_t FROM '{in_path}' (FORMAT binary)")).unwrap();
    let text = Spi::get_one::<String>(
        "SELECT string_agg(coalesce(v::text, 'null') || ' ' || coalesce(h::text, 'null') || ' ' \
         || coalesce(s::text, 'null'), ' | ' ORDER BY id) FROM copy_t",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        text,
        "[1,-2,3.5] [1,-2,3.5] {1:1.5,3:2}/5 | [1e-45,-0,-3.4e+38] [5.9604645e-08,-0,65504] \
         {1:-1}/1 | null null null"
    );

    Spi::run(&format!("COPY copy_t TO '{out_path}' (FORMAT binary)")).unwrap();
    let output = std::fs::read(&out_path).unwrap();
    let _ = std::fs::remove_file(&in_path);
    let _ = std::fs::remove_file(&out_path);
    assert_eq!(output, input, "binary COPY TO must reproduce the input file byte for byte");
}

/// Loads one binary-COPY row with a single field of the given type (raises on bad input).
fn copy_one(sql_type: &str, field: &[u8]) {
    let path = scratch_path(&format!("{sql_type}.bin"));
    let mut file = copy_file(&[(1, vec![Some(field)])]);
    std::fs::write(&path, &file).unwrap();
    file.clear();
    Spi::run(&format!("CREATE TEMP TABLE one_t (id int, x {sql_type})")).unwrap();
    let result = Spi::run(&format!("COPY one_t FROM '{path}' (FORMAT binary)"));
    let _ = std::fs::remove_file(&path);
    result.unwrap();
}

#[pg_test(error = "expected unused to be 0, not 1")]
fn recv_rejects_nonzero_unused() {
    copy_one("ruvector", &[0, 1, 0, 1, 0x3f, 0x80, 0, 0]);
}

#[pg_test(error = "NaN not allowed in halfvec")]
fn recv_rejects_nan_halfvec() {
    copy_one("halfvec", &[0, 1, 0, 0, 0x7e, 0x00]);
}

#[pg_test(error = "infinite value not allowed in vector")]
fn recv_rejects_infinity() {
    copy_one("ruvector", &[0, 1, 0, 0, 0x7f, 0x80, 0, 0]);
}

#[pg_test(error = "insufficient data left in message")]
fn recv_rejects_truncated_vector() {
    copy_one("ruvector", &[0, 2, 0, 0, 0x3f, 0x80, 0, 0]);
}

#[pg_test(error = "expected 2 dimensions, not 1")]
fn recv_checks_typmod() {
    copy_one("ruvector(2)", &[0, 1, 0, 0, 0x3f, 0x80, 0, 0]);
}

#[pg_test(error = "binary representation of sparsevec cannot contain zero values")]
fn recv_rejects_sparse_zero() {
    copy_one(
        "sparsevec",
        &[0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    );
}

#[pg_test(error = "sparsevec indices must be in ascending order")]
fn recv_rejects_unsorted_sparse() {
    copy_one(
        "sparsevec",
        &[
            0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0x3f, 0x80, 0, 0, 0x3f,
            0x80, 0, 0,
        ],
    );
}

#[pg_test(error = "incorrect binary data format")]
fn recv_rejects_trailing_bytes() {
    copy_one("ruvector", &[0, 1, 0, 0, 0x3f, 0x80, 0, 0, 0]);
}

/// PostgreSQL's float4out (shortest-precise output with the default extra_float_digits = 1).
fn pg_float4out(x: f32) -> String {
    // SAFETY: float4out takes a float4 datum and returns a palloc'd C string.
    unsafe {
        let d = pgrx::direct_function_call_as_datum(
            pg_sys::float4out,
            &[Some(pg_sys::Datum::from(x.to_bits()))],
        )
        .unwrap();
        let p = d.cast_mut_ptr::<std::ffi::c_char>();
        let s = std::ffi::CStr::from_ptr(p).to_str().unwrap().to_owned();
        pg_sys::pfree(p.cast());
        s
    }
}

#[pg_test]
fn float_text_matches_postgres_float4out() {
    Spi::run("SET extra_float_digits = 1").unwrap();
    let ours = |x: f32| {
        let mut s = String::new();
        crate::format::float::write_shortest(&mut s, x);
        s
    };
    let mut checked = 0u64;
    let mut check = |x: f32| {
        assert_eq!(ours(x), pg_float4out(x), "bits {:#010x}", x.to_bits());
        checked += 1;
    };
    // Every fp16 value (all halfvec outputs), every power of two and its neighbours ...
    for h in 0..=u16::MAX {
        check(half::f16::from_bits(h).to_f32());
    }
    for e in 0..=255u32 {
        for m in [0u32, 1, 2, 0x3f_ffff, 0x40_0000, 0x7f_fffe, 0x7f_ffff] {
            check(f32::from_bits(e << 23 | m));
            check(f32::from_bits(1 << 31 | e << 23 | m));
        }
    }
    // ... and two million pseudo-random bit patterns.
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..2_000_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        check(f32::from_bits((s >> 16) as u32));
    }
    assert!(checked > 2_000_000);
}
