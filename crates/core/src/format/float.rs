//! Number scanning and printing exactly as pgvector does it.
//!
//! Input: pgvector scans elements with C's `strtof` (and sparse indices with `strtol`), like
//! PostgreSQL's `float4in`, accepting whatever prefix those functions accept (`1e3`, `+.5`,
//! `0x1p-3`, `inf`, `nan`, ...) and using `errno == ERANGE` for range errors. We call the same
//! libc functions; PostgreSQL runs with `LC_NUMERIC=C`, and Rust programs never call `setlocale`,
//! so both see the C locale.
//!
//! Output: pgvector prints with PostgreSQL's `float_to_shortest_decimal_bufn` (Ryu): the
//! shortest digit string that reads back to the same `f32` (chosen as `shortest.rs` explains),
//! in fixed notation when the decimal exponent is in [-4, 6) and as `d.ddde±XX` otherwise. A
//! pg_test checks the result against the server's own `float4out` on millions of values.

use std::ffi::{c_char, CStr};
use std::fmt::Write;

/// A number scanned by `strtof` / `strtol`: its value, the byte offset just past it, and
/// whether `errno` was set to `ERANGE`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scanned<T> {
    pub value: T,
    pub end: usize,
    pub erange: bool,
}

/// This thread's `errno`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_ptr() -> *mut libc::c_int {
    // SAFETY: glibc's accessor of the calling thread's errno; always a valid pointer.
    unsafe { libc::__errno_location() }
}

/// This thread's `errno`.
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
fn errno_ptr() -> *mut libc::c_int {
    // SAFETY: libc's accessor of the calling thread's errno; always a valid pointer.
    unsafe { libc::__error() }
}

/// Runs a libc scanner at byte `pos` of `s`; `None` when it converted nothing.
fn scan<T>(
    s: &CStr,
    pos: usize,
    f: impl FnOnce(*const c_char, *mut *mut c_char) -> T,
) -> Option<Scanned<T>> {
    let bytes = s.to_bytes();
    assert!(pos <= bytes.len(), "scan position past the end");
    let base = s.as_ptr();
    // SAFETY: `s` is NUL-terminated and `pos` is within it, so `start` points into the string;
    // strtof/strtol read only up to the terminator and store an `end` pointer inside it.
    unsafe {
        let start = base.add(pos);
        let mut end: *mut c_char = std::ptr::null_mut();
        *errno_ptr() = 0;
        let value = f(start, &mut end);
        let erange = *errno_ptr() == libc::ERANGE;
        if end.cast_const() == start {
            return None;
        }
        Some(Scanned {
            value,
            end: end.cast_const().offset_from(base) as usize,
            erange,
        })
    }
}

/// C `strtof` at byte `pos` of `s`.
pub fn strtof_at(s: &CStr, pos: usize) -> Option<Scanned<f32>> {
    // SAFETY: see `scan`.
    scan(s, pos, |p, e| unsafe { libc::strtof(p, e) })
}

/// C `strtol` (base 10) at byte `pos` of `s`.
pub fn strtol_at(s: &CStr, pos: usize) -> Option<Scanned<i64>> {
    // SAFETY: see `scan`.
    scan(s, pos, |p, e| unsafe { libc::strtol(p, e, 10) as i64 })
}

/// Appends `x` as PostgreSQL's `float_to_shortest_decimal_bufn` prints it.
pub fn write_shortest(out: &mut String, x: f32) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x < 0.0 { "-Infinity" } else { "Infinity" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let neg = x.is_sign_negative();
    let d = super::shortest::shortest(x.abs());
    let digit_buf = itoa_buf(d.mantissa);
    let digits = digit_buf.as_str();
    // decimal exponent of the first digit
    let exp = d.exponent + digits.len() as i32 - 1;

    if neg {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        write!(out, "{:02}", exp.unsigned_abs()).expect("writing to a String cannot fail");
    }
}

/// The decimal digits of `n` (at most 20).
struct DigitBuf {
    buf: [u8; 20],
    start: usize,
}

impl DigitBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).expect("ASCII digits")
    }
}

fn itoa_buf(mut n: u64) -> DigitBuf {
    let mut d = DigitBuf {
        buf: [b'0'; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(x: f32) -> String {
        let mut s = String::new();
        write_shortest(&mut s, x);
        s
    }

    #[test]
    fn layout_matches_postgres() {
        assert_eq!(show(1.0), "1");
        assert_eq!(show(-2.5), "-2.5");
        assert_eq!(show(100.0), "100");
        assert_eq!(show(123456.0), "123456");
        assert_eq!(show(1234567.0), "1.234567e+06");
        assert_eq!(show(1e6), "1e+06");
        assert_eq!(show(0.0001), "0.0001");
        assert_eq!(show(0.00001), "1e-05");
        assert_eq!(show(1.5e38), "1.5e+38");
        assert_eq!(show(-1.5e38), "-1.5e+38");
        assert_eq!(show(0.1), "0.1");
        assert_eq!(show(1.0 / 3.0), "0.33333334");
        // an exact halfway case: Ryu (and PostgreSQL) keep the even digit
        assert_eq!(show(f32::from_bits(0x3980_0000)), "0.00024414062");
        assert_eq!(show(123456789.0), "1.2345679e+08");
        assert_eq!(show(1e16), "1e+16");
        // on the rounding boundary: PostgreSQL does not accept 5.033165e+07
        assert_eq!(show(50331648.0), "5.0331648e+07");
        assert_eq!(show(f32::MIN_POSITIVE / 2.0), "5.877472e-39");
        assert_eq!(show(1e-45), "1e-45");
        assert_eq!(show(-0.0), "-0");
        assert_eq!(show(0.0), "0");
        assert_eq!(show(f32::NAN), "NaN");
        assert_eq!(show(f32::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn scanners_follow_libc() {
        let s = c"  1.5e3, x";
        let v = strtof_at(s, 0).unwrap();
        assert_eq!((v.value, v.end, v.erange), (1500.0, 7, false));
        assert!(strtof_at(s, 8).is_none());
        let big = c"1e39";
        let v = strtof_at(big, 0).unwrap();
        assert!(v.value.is_infinite() && v.erange);
        let hex = c"0x1p-3]";
        assert_eq!(strtof_at(hex, 0).unwrap().value, 0.125);
        let i = c"-42:";
        assert_eq!(strtol_at(i, 0).unwrap().value, -42);
        let huge = c"99999999999999999999";
        assert!(strtol_at(huge, 0).unwrap().erange);
    }
}
