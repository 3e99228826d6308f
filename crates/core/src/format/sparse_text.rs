//! Text format of `sparsevec`: `{1:1.5,3:2}/5` — 1-based `index:value` pairs and the number of
//! dimensions (pgvector's `sparsevec_in` / `sparsevec_out`). Input pairs may come in any order
//! and zero values are dropped; the stored form is sorted, 0-based, without zeros.

use super::dense_text::{out_of_range, skip_space, syntax_error};
use super::float::{strtof_at, strtol_at, write_shortest};
use super::{
    check_dim, check_element, check_expected_dim, SqlState, VecError, SPARSEVEC, SPARSE_MAX_DIM,
    SPARSE_MAX_NNZ,
};
use std::ffi::CStr;
use std::fmt::Write;

/// A sparse vector in its stored form: `indices` 0-based and strictly ascending, `values`
/// non-zero and finite, `indices.len() == values.len() <= dim`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sparse {
    pub dim: i32,
    pub indices: Vec<i32>,
    pub values: Vec<f32>,
}

/// pgvector's `CheckNnz`.
pub fn check_nnz(nnz: i32, dim: i32) -> Result<(), VecError> {
    if nnz < 0 {
        return Err(VecError::new(
            SqlState::DataException,
            "sparsevec cannot have negative number of elements",
        ));
    }
    if nnz > SPARSE_MAX_NNZ {
        return Err(too_many_nnz());
    }
    if nnz > dim {
        return Err(VecError::new(
            SqlState::ProgramLimitExceeded,
            "sparsevec cannot have more elements than dimensions",
        ));
    }
    Ok(())
}

fn too_many_nnz() -> VecError {
    VecError::new(
        SqlState::ProgramLimitExceeded,
        format!("sparsevec cannot have more than {SPARSE_MAX_NNZ} non-zero elements"),
    )
}

/// pgvector's `CheckIndex` for entry `i` (entries before it already checked).
pub fn check_index(indices: &[i32], i: usize, dim: i32) -> Result<(), VecError> {
    let index = indices[i];
    if index < 0 || index >= dim {
        return Err(VecError::new(
            SqlState::DataException,
            "sparsevec index out of bounds",
        ));
    }
    if i > 0 {
        if index < indices[i - 1] {
            return Err(VecError::new(
                SqlState::DataException,
                "sparsevec indices must be in ascending order",
            ));
        }
        if index == indices[i - 1] {
            return Err(VecError::new(
                SqlState::DataException,
                "sparsevec indices must not contain duplicates",
            ));
        }
    }
    Ok(())
}

fn clamp_to_i32(x: i64, min: i64) -> i32 {
    x.clamp(min, i32::MAX as i64) as i32
}

pub fn parse(lit: &CStr, typmod: i32) -> Result<Sparse, VecError> {
    let names = SPARSEVEC;
    let s = lit.to_bytes();
    // pgvector sizes its buffer by counting commas first and rejects oversized input up front.
    let max_nnz = 1 + s.iter().filter(|&&b| b == b',').count();
    if max_nnz > SPARSE_MAX_NNZ as usize {
        return Err(too_many_nnz());
    }
    let mut entries: Vec<(i32, f32)> = Vec::new();
    let mut i = skip_space(s, 0);
    if s.get(i) != Some(&b'{') {
        return Err(syntax_error(names, lit).with_detail("Vector contents must start with \"{\"."));
    }
    i = skip_space(s, i + 1);
    if s.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            i = skip_space(s, i);
            if i == s.len() {
                return Err(syntax_error(names, lit));
            }
            let Some(scanned) = strtol_at(lit, i) else {
                return Err(syntax_error(names, lit));
            };
            // Kept in int range (as pgvector does) so the bounds check reports it.
            let index = clamp_to_i32(scanned.value, i32::MIN as i64 + 1);
            i = skip_space(s, scanned.end);
            if s.get(i) != Some(&b':') {
                return Err(syntax_error(names, lit));
            }
            i = skip_space(s, i + 1);
            let Some(num) = strtof_at(lit, i) else {
                return Err(syntax_error(names, lit));
            };
            if num.erange && (num.value == 0.0 || num.value.is_infinite()) {
                return Err(out_of_range(names, &s[i..num.end]));
            }
            check_element(names, num.value)?;
            if num.value != 0.0 {
                // 1-based in text, 0-based stored
                entries.push((index - 1, num.value));
            }
            i = skip_space(s, num.end);
            match s.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(syntax_error(names, lit)),
            }
        }
    }
    i = skip_space(s, i);
    if s.get(i) != Some(&b'/') {
        return Err(syntax_error(names, lit).with_detail("Unexpected end of input."));
    }
    i = skip_space(s, i + 1);
    let Some(dim) = strtol_at(lit, i) else {
        return Err(syntax_error(names, lit));
    };
    i = skip_space(s, dim.end);
    if i != s.len() {
        return Err(syntax_error(names, lit).with_detail("Junk after closing."));
    }
    let dim = clamp_to_i32(dim.value, i32::MIN as i64);
    check_dim(names, dim, SPARSE_MAX_DIM)?;
    check_expected_dim(typmod, dim)?;

    entries.sort_by_key(|e| e.0);
    let indices: Vec<i32> = entries.iter().map(|e| e.0).collect();
    for k in 0..indices.len() {
        check_index(&indices, k, dim)?;
    }
    Ok(Sparse {
        dim,
        indices,
        values: entries.iter().map(|e| e.1).collect(),
    })
}

/// Formats as `{i1:v1,i2:v2}/dim` with 1-based indices.
pub fn format(dim: i32, indices: &[i32], values: &[f32]) -> String {
    let mut out = String::with_capacity(8 + indices.len() * 12);
    out.push('{');
    for (k, (i, v)) in indices.iter().zip(values).enumerate() {
        if k > 0 {
            out.push(',');
        }
        write!(out, "{}:", *i as i64 + 1).expect("writing to a String cannot fail");
        write_shortest(&mut out, *v);
    }
    write!(out, "}}/{dim}").expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unsorted_and_drops_zeros() {
        let v = parse(c" { 3:2 , 1:1.5, 2:0 } / 5 ", -1).unwrap();
        assert_eq!(v.dim, 5);
        assert_eq!(v.indices, vec![0, 2]);
        assert_eq!(v.values, vec![1.5, 2.0]);
        assert_eq!(format(v.dim, &v.indices, &v.values), "{1:1.5,3:2}/5");
        assert_eq!(parse(c"{}/3", -1).unwrap().indices, Vec::<i32>::new());
    }

    #[test]
    fn errors_match_pgvector() {
        let m = |s: &CStr| parse(s, -1).unwrap_err().message;
        assert_eq!(
            m(c"{1:1,1:2}/3"),
            "sparsevec indices must not contain duplicates"
        );
        assert_eq!(m(c"{0:1}/3"), "sparsevec index out of bounds");
        assert_eq!(m(c"{4:1}/3"), "sparsevec index out of bounds");
        assert_eq!(m(c"{1:1}/0"), "sparsevec must have at least 1 dimension");
        assert_eq!(
            m(c"{1:1}/1000000001"),
            "sparsevec cannot have more than 1000000000 dimensions"
        );
        assert_eq!(
            m(c"{1:1e-50}/2"),
            "\"1e-50\" is out of range for type sparsevec"
        );
        let e = parse(c"{1:1}", -1).unwrap_err();
        assert_eq!(e.detail.as_deref(), Some("Unexpected end of input."));
        let e = parse(c"{1:1}/2 x", -1).unwrap_err();
        assert_eq!(e.detail.as_deref(), Some("Junk after closing."));
        let e = parse(c"[1:1]/2", -1).unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("Vector contents must start with \"{\".")
        );
        assert_eq!(
            parse(c"{1:1}/3", 2).unwrap_err().message,
            "expected 2 dimensions, not 3"
        );
    }
}
