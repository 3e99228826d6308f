//! Text format of `ruvector` and `halfvec`: `[1,2.5,-3e-05]` (pgvector's `vector_in` /
//! `vector_out`, `halfvec_in` / `halfvec_out`). Whitespace is allowed around every token; the
//! checks run in pgvector's order so that a malformed literal gets the same error.

use super::float::{strtof_at, write_shortest};
use super::{
    check_dense_dim, check_element, check_expected_dim, SqlState, TypeNames, VecError,
    DENSE_MAX_DIM,
};
use half::f16;
use std::ffi::CStr;

/// PostgreSQL's (and pgvector's, on PG ≤ 16) whitespace set for vector literals.
#[inline]
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

pub(super) fn skip_space(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    i
}

pub(super) fn syntax_error(names: TypeNames, lit: &CStr) -> VecError {
    VecError::new(
        SqlState::InvalidTextRepresentation,
        format!(
            "invalid input syntax for type {}: \"{}\"",
            names.sql,
            lit.to_string_lossy()
        ),
    )
}

pub(super) fn out_of_range(names: TypeNames, token: &[u8]) -> VecError {
    VecError::new(
        SqlState::NumericValueOutOfRange,
        format!(
            "\"{}\" is out of range for type {}",
            String::from_utf8_lossy(token),
            names.sql
        ),
    )
}

/// Parses a dense literal. `convert(token, value, erange)` turns each scanned `f32` into the
/// element type and applies the per-element checks (range, NaN, infinity) — it runs before the
/// next element is read, as in pgvector.
pub fn parse<E>(
    lit: &CStr,
    typmod: i32,
    names: TypeNames,
    mut convert: impl FnMut(&[u8], f32, bool) -> Result<E, VecError>,
) -> Result<Vec<E>, VecError> {
    let s = lit.to_bytes();
    let mut i = skip_space(s, 0);
    if s.get(i) != Some(&b'[') {
        return Err(syntax_error(names, lit).with_detail("Vector contents must start with \"[\"."));
    }
    i = skip_space(s, i + 1);
    if s.get(i) == Some(&b']') {
        return Err(VecError::new(
            SqlState::DataException,
            format!("{} must have at least 1 dimension", names.noun),
        ));
    }
    let mut out = Vec::new();
    loop {
        if out.len() == DENSE_MAX_DIM as usize {
            return Err(VecError::new(
                SqlState::ProgramLimitExceeded,
                format!(
                    "{} cannot have more than {} dimensions",
                    names.noun, DENSE_MAX_DIM
                ),
            ));
        }
        i = skip_space(s, i);
        if i == s.len() {
            return Err(syntax_error(names, lit));
        }
        let Some(num) = strtof_at(lit, i) else {
            return Err(syntax_error(names, lit));
        };
        out.push(convert(&s[i..num.end], num.value, num.erange)?);
        i = skip_space(s, num.end);
        match s.get(i) {
            Some(b',') => i += 1,
            Some(b']') => {
                i += 1;
                break;
            }
            _ => return Err(syntax_error(names, lit)),
        }
    }
    i = skip_space(s, i);
    if i != s.len() {
        return Err(syntax_error(names, lit).with_detail("Junk after closing right brace."));
    }
    let dim = out.len() as i32;
    check_dense_dim(names, dim)?;
    check_expected_dim(typmod, dim)?;
    Ok(out)
}

/// `ruvector` element conversion: range error only on overflow (underflow to a denormal or zero
/// is accepted, as in `float4in`), then no NaN/infinity.
pub fn f32_element(names: TypeNames) -> impl FnMut(&[u8], f32, bool) -> Result<f32, VecError> {
    move |token, x, erange| {
        if erange && x.is_infinite() {
            return Err(out_of_range(names, token));
        }
        check_element(names, x)?;
        Ok(x)
    }
}

/// `halfvec` element conversion (pgvector's `halfvec_in`): the `f32` from `strtof` is rounded to
/// the nearest `f16`; overflow of either conversion is a range error; then no NaN/infinity.
pub fn f16_element(names: TypeNames) -> impl FnMut(&[u8], f32, bool) -> Result<f16, VecError> {
    move |token, x, erange| {
        let h = f16::from_f32(x);
        if (erange && x.is_infinite()) || (h.is_infinite() && !x.is_infinite()) {
            return Err(out_of_range(names, token));
        }
        check_element(names, h.to_f32())?;
        Ok(h)
    }
}

/// pgvector's `Float4ToHalf`: rounds to the nearest `f16`, with a range error when a finite
/// value overflows (the message shows the `f32` in shortest form).
pub fn f32_to_f16(x: f32) -> Result<f16, VecError> {
    let h = f16::from_f32(x);
    if h.is_infinite() && !x.is_infinite() {
        let mut shown = String::new();
        write_shortest(&mut shown, x);
        return Err(out_of_range(super::HALFVEC, shown.as_bytes()));
    }
    Ok(h)
}

/// Formats elements as `[x1,x2,...]`.
pub fn format(xs: impl ExactSizeIterator<Item = f32>) -> String {
    let mut out = String::with_capacity(2 + xs.len() * 8);
    out.push('[');
    for (i, x) in xs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_shortest(&mut out, x);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::super::RUVECTOR;
    use super::*;

    fn p(s: &CStr) -> Result<Vec<f32>, VecError> {
        parse(s, -1, RUVECTOR, f32_element(RUVECTOR))
    }

    #[test]
    fn parses_and_formats() {
        assert_eq!(p(c" [ 1 , 2.5,-3 ] ").unwrap(), vec![1.0, 2.5, -3.0]);
        assert_eq!(format([1.0f32, 2.5, -3.0].into_iter()), "[1,2.5,-3]");
    }

    #[test]
    fn errors_match_pgvector() {
        let e = p(c"1,2").unwrap_err();
        assert_eq!(e.message, "invalid input syntax for type ruvector: \"1,2\"");
        assert_eq!(
            e.detail.as_deref(),
            Some("Vector contents must start with \"[\".")
        );
        let e = p(c"[1,2]x").unwrap_err();
        assert_eq!(e.detail.as_deref(), Some("Junk after closing right brace."));
        assert_eq!(
            p(c"[]").unwrap_err().message,
            "vector must have at least 1 dimension"
        );
        assert_eq!(
            p(c"[NaN]").unwrap_err().message,
            "NaN not allowed in vector"
        );
        assert_eq!(
            p(c"[-inf]").unwrap_err().message,
            "infinite value not allowed in vector"
        );
        let e = p(c"[1e39]").unwrap_err();
        assert_eq!(e.message, "\"1e39\" is out of range for type ruvector");
        assert_eq!(e.state, SqlState::NumericValueOutOfRange);
        assert_eq!(p(c"[1e-40]").unwrap(), vec![1e-40]);
        assert_eq!(
            parse(c"[1,2,3]", 2, RUVECTOR, f32_element(RUVECTOR))
                .unwrap_err()
                .message,
            "expected 2 dimensions, not 3"
        );
        assert_eq!(p(c"[1,]").unwrap_err().detail, None);
        assert_eq!(
            p(c"[1").unwrap_err().state,
            SqlState::InvalidTextRepresentation
        );
    }
}
