//! Random `COPY ... (FORMAT BINARY)` payloads into columns of each type (`ruvector`, `halfvec`,
//! `sparsevec`, with and without a type modifier): valid messages with random bytes written
//! over them, cut short or lengthened, and random bytes. Every COPY either loads the row —
//! which must then read back as a valid value of its type, exactly as its text form parses —
//! or fails with a data error (class 22, or 08P01 for a message shorter than it says, or
//! 54000 for a value over a limit); the server never crashes. The parsers themselves are
//! fuzzed outside the server (`fuzz/`); this drives them through PostgreSQL's COPY.

use postgres::Client;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::Rng;
use std::io::Write;

/// A valid binary message of `column`'s type (pgvector's send format).
fn valid(column: &str, rng: &mut Rng) -> Vec<u8> {
    let dims = 3u16;
    let mut b = Vec::new();
    match column {
        "v" | "v3" => {
            b.extend_from_slice(&dims.to_be_bytes());
            b.extend_from_slice(&0u16.to_be_bytes());
            for _ in 0..dims {
                b.extend_from_slice(&(rng.below(1000) as f32 / 7.0).to_be_bytes());
            }
        }
        "h" | "h3" => {
            b.extend_from_slice(&dims.to_be_bytes());
            b.extend_from_slice(&0u16.to_be_bytes());
            // 1, 0.5, 2, -1.5, 0.25 as IEEE half-precision bits.
            const HALVES: [u16; 5] = [0x3C00, 0x3800, 0x4000, 0xBE00, 0x3400];
            for _ in 0..dims {
                let x = HALVES[rng.below(5) as usize];
                b.extend_from_slice(&x.to_be_bytes());
            }
        }
        _ => {
            let nnz = 2i32;
            for x in [5i32, nnz, 0] {
                b.extend_from_slice(&x.to_be_bytes());
            }
            for i in [1i32, 3] {
                b.extend_from_slice(&i.to_be_bytes());
            }
            for _ in 0..nnz {
                b.extend_from_slice(&(1.0 + rng.below(100) as f32).to_be_bytes());
            }
        }
    }
    b
}

/// A damaged variant of a valid message: adversarial values over fields, random bytes, a
/// truncation or extension.
fn damage(mut b: Vec<u8>, rng: &mut Rng) -> Vec<u8> {
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = rng.next_u64() as u8;
            }
        }
        1 => {
            let at = (rng.below(b.len() as u64 / 2) * 2) as usize;
            let v: [u8; 4] = match rng.below(5) {
                0 => [0xFF; 4],
                1 => [0x7F, 0xFF, 0xFF, 0xFF],
                2 => [0x80, 0, 0, 0],
                3 => [0x7F, 0xC0, 0, 0], // f32 NaN
                _ => [0x7F, 0x80, 0, 0], // f32 infinity
            };
            for (i, x) in v.iter().enumerate() {
                if let Some(y) = b.get_mut(at + i) {
                    *y = *x;
                }
            }
        }
        2 => b.truncate(rng.below(b.len() as u64) as usize),
        3 => b.extend((0..1 + rng.below(12)).map(|_| rng.next_u64() as u8)),
        _ => b = (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
    }
    b
}

/// COPYs one row with `payload` as the value of `column`.
fn copy_one(client: &mut Client, column: &str, payload: &[u8]) -> Result<(), postgres::Error> {
    let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
    data.extend_from_slice(&0i32.to_be_bytes());
    data.extend_from_slice(&0i32.to_be_bytes());
    data.extend_from_slice(&1i16.to_be_bytes());
    data.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    data.extend_from_slice(payload);
    data.extend_from_slice(&(-1i16).to_be_bytes());
    let mut w = client.copy_in(&format!("COPY t ({column}) FROM STDIN (FORMAT BINARY)"))?;
    w.write_all(&data).unwrap();
    w.finish().map(|_| ())
}

#[test]
fn random_binary_copy_payloads() {
    let c = Cluster::new("copy-binary", 5588, &[]).unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (v ruvector, v3 ruvector(3), h halfvec, h3 halfvec(3),
                             s sparsevec, s5 sparsevec(5))",
        )
        .unwrap();
    let trials: u64 = std::env::var("RUVECTOR_COPY_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let mut rng = Rng(5588);
    let (mut loaded, mut refused) = (0, 0);
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for trial in 0..trials {
        let column = ["v", "v3", "h", "h3", "s", "s5"][rng.below(6) as usize];
        let payload = damage(valid(column, &mut rng), &mut rng);
        match copy_one(&mut client, column, &payload) {
            Ok(()) => loaded += 1,
            Err(e) => {
                let code = e.code().map(|c| c.code().to_string()).unwrap_or_else(|| {
                    panic!("trial {trial} ({column}, {payload:?}): not a server error: {e}")
                });
                assert!(
                    code.starts_with("22") || code == "08P01" || code == "54000",
                    "trial {trial} ({column}, {payload:?}): SQLSTATE {code}: {e}"
                );
                *codes.entry(code).or_default() += 1;
                refused += 1;
            }
        }
    }
    // Every value that loaded is valid: its text form parses back to the same value.
    for column in ["v", "v3", "h", "h3", "s", "s5"] {
        let ty = match column {
            "v" | "v3" => "ruvector",
            "h" | "h3" => "halfvec",
            _ => "sparsevec",
        };
        let bad: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM t WHERE {column} IS NOT NULL
                       AND {column}::text::{ty} IS DISTINCT FROM {column}"
                ),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            bad, 0,
            "{column}: values that do not survive a text round trip"
        );
    }
    println!("{trials} payloads: {loaded} loaded, {refused} refused {codes:?}");
    assert!(loaded > 0 && refused > 0);
    assert!(
        !c.log_contains("terminated by signal") && !c.log_contains("PANIC"),
        "{}",
        c.log_tail()
    );
}
