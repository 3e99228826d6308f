//! Binary send/recv formats, network byte order, byte-for-byte pgvector's:
//!
//! * `ruvector`:  `int16 dim, int16 unused(=0), float4 x[dim]`
//! * `halfvec`:   `int16 dim, int16 unused(=0), fp16 bits x[dim]`
//! * `sparsevec`: `int32 dim, int32 nnz, int32 unused(=0), int32 index[nnz] (0-based),
//!   float4 value[nnz]`
//!
//! Decoders read from the front of a message and report how many bytes they consumed (PostgreSQL
//! checks that a field was read completely); checks run in pgvector's order.

use super::sparse_text::{check_index, check_nnz, Sparse};
use super::{
    check_dense_dim, check_dim, check_element, check_expected_dim, SqlState, TypeNames, VecError,
    SPARSEVEC, SPARSE_MAX_DIM,
};
use half::f16;

/// A cursor over a binary message with PostgreSQL's `pq_getmsg*` error on short data.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn consumed(&self) -> usize {
        self.pos
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], VecError> {
        let end = self.pos.checked_add(N).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(VecError::new(
                SqlState::ProtocolViolation,
                "insufficient data left in message",
            ));
        };
        let out = self.buf[self.pos..end].try_into().expect("N bytes");
        self.pos = end;
        Ok(out)
    }

    pub fn i16(&mut self) -> Result<i16, VecError> {
        self.take::<2>().map(i16::from_be_bytes)
    }

    pub fn u16(&mut self) -> Result<u16, VecError> {
        self.take::<2>().map(u16::from_be_bytes)
    }

    pub fn i32(&mut self) -> Result<i32, VecError> {
        self.take::<4>().map(i32::from_be_bytes)
    }

    pub fn f32(&mut self) -> Result<f32, VecError> {
        self.take::<4>()
            .map(|b| f32::from_bits(u32::from_be_bytes(b)))
    }
}

fn check_unused(unused: i32) -> Result<(), VecError> {
    if unused != 0 {
        return Err(VecError::new(
            SqlState::DataException,
            format!("expected unused to be 0, not {unused}"),
        ));
    }
    Ok(())
}

/// Reads the dense header and checks it; returns the dimensions.
fn dense_header(r: &mut Reader, typmod: i32, names: TypeNames) -> Result<usize, VecError> {
    let dim = r.i16()? as i32;
    let unused = r.i16()? as i32;
    check_dense_dim(names, dim)?;
    check_expected_dim(typmod, dim)?;
    check_unused(unused)?;
    Ok(dim as usize)
}

/// Decodes a `ruvector` message.
pub fn decode_f32(
    buf: &[u8],
    typmod: i32,
    names: TypeNames,
) -> Result<(Vec<f32>, usize), VecError> {
    let mut r = Reader::new(buf);
    let dim = dense_header(&mut r, typmod, names)?;
    let mut x = Vec::with_capacity(dim);
    for _ in 0..dim {
        let v = r.f32()?;
        check_element(names, v)?;
        x.push(v);
    }
    Ok((x, r.consumed()))
}

/// Decodes a `halfvec` message.
pub fn decode_f16(
    buf: &[u8],
    typmod: i32,
    names: TypeNames,
) -> Result<(Vec<f16>, usize), VecError> {
    let mut r = Reader::new(buf);
    let dim = dense_header(&mut r, typmod, names)?;
    let mut x = Vec::with_capacity(dim);
    for _ in 0..dim {
        let v = f16::from_bits(r.u16()?);
        check_element(names, v.to_f32())?;
        x.push(v);
    }
    Ok((x, r.consumed()))
}

/// Encodes a dense vector given its elements' big-endian bytes.
pub fn encode_dense<const N: usize>(dim: usize, elems: impl Iterator<Item = [u8; N]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + dim * N);
    out.extend_from_slice(&(dim as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for e in elems {
        out.extend_from_slice(&e);
    }
    out
}

pub fn encode_f32(x: &[f32]) -> Vec<u8> {
    encode_dense(x.len(), x.iter().map(|v| v.to_bits().to_be_bytes()))
}

pub fn encode_f16(x: &[f16]) -> Vec<u8> {
    encode_dense(x.len(), x.iter().map(|v| v.to_bits().to_be_bytes()))
}

/// Decodes a `sparsevec` message.
pub fn decode_sparse(buf: &[u8], typmod: i32) -> Result<(Sparse, usize), VecError> {
    let mut r = Reader::new(buf);
    let dim = r.i32()?;
    let nnz = r.i32()?;
    let unused = r.i32()?;
    check_dim(SPARSEVEC, dim, SPARSE_MAX_DIM)?;
    check_nnz(nnz, dim)?;
    check_expected_dim(typmod, dim)?;
    check_unused(unused)?;
    let nnz = nnz as usize;
    let mut indices = Vec::with_capacity(nnz);
    for i in 0..nnz {
        indices.push(r.i32()?);
        check_index(&indices, i, dim)?;
    }
    let mut values = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        let v = r.f32()?;
        check_element(SPARSEVEC, v)?;
        if v == 0.0 {
            return Err(VecError::new(
                SqlState::DataException,
                "binary representation of sparsevec cannot contain zero values",
            ));
        }
        values.push(v);
    }
    Ok((
        Sparse {
            dim,
            indices,
            values,
        },
        r.consumed(),
    ))
}

pub fn encode_sparse(dim: i32, indices: &[i32], values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + 8 * indices.len());
    out.extend_from_slice(&dim.to_be_bytes());
    out.extend_from_slice(&(indices.len() as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for i in indices {
        out.extend_from_slice(&i.to_be_bytes());
    }
    for v in values {
        out.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{HALFVEC, RUVECTOR};
    use super::*;

    #[test]
    fn dense_bytes_are_pgvectors() {
        let bytes = encode_f32(&[1.0, -2.0]);
        assert_eq!(
            bytes,
            [0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0].as_slice()
        );
        assert_eq!(
            decode_f32(&bytes, -1, RUVECTOR).unwrap(),
            (vec![1.0, -2.0], 12)
        );
        let h = encode_f16(&[f16::from_f32(1.0), f16::from_f32(-2.0)]);
        assert_eq!(h, [0, 2, 0, 0, 0x3c, 0x00, 0xc0, 0x00].as_slice());
        assert_eq!(decode_f16(&h, 2, HALFVEC).unwrap().1, 8);
    }

    #[test]
    fn dense_errors() {
        let m = |b: &[u8]| decode_f32(b, -1, RUVECTOR).unwrap_err().message;
        assert_eq!(m(&[0, 1]), "insufficient data left in message");
        assert_eq!(m(&[0, 0, 0, 0]), "vector must have at least 1 dimension");
        assert_eq!(
            m(&[0x3e, 0x81, 0, 0]),
            "vector cannot have more than 16000 dimensions"
        );
        assert_eq!(
            m(&[0, 1, 0, 7, 0, 0, 0, 0]),
            "expected unused to be 0, not 7"
        );
        assert_eq!(
            m(&[0, 1, 0, 0, 0x7f, 0xc0, 0, 0]),
            "NaN not allowed in vector"
        );
        assert_eq!(
            m(&[0, 2, 0, 0, 0x3f, 0x80, 0, 0]),
            "insufficient data left in message"
        );
    }

    #[test]
    fn sparse_bytes_are_pgvectors() {
        let bytes = encode_sparse(5, &[0, 2], &[1.5, 2.0]);
        #[rustfmt::skip]
        let want = [0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
                    0x3f, 0xc0, 0, 0, 0x40, 0, 0, 0];
        assert_eq!(bytes, want.as_slice());
        let (s, n) = decode_sparse(&bytes, -1).unwrap();
        assert_eq!(
            (s.dim, s.indices, s.values, n),
            (5, vec![0, 2], vec![1.5, 2.0], 28)
        );
        let zero = encode_sparse(5, &[1], &[0.0]);
        assert_eq!(
            decode_sparse(&zero, -1).unwrap_err().message,
            "binary representation of sparsevec cannot contain zero values"
        );
        let unordered = encode_sparse(5, &[2, 1], &[1.0, 1.0]);
        assert_eq!(
            decode_sparse(&unordered, -1).unwrap_err().message,
            "sparsevec indices must be in ascending order"
        );
        let many = encode_sparse(1, &[0, 1], &[1.0, 1.0]);
        assert_eq!(
            decode_sparse(&many, -1).unwrap_err().message,
            "sparsevec cannot have more elements than dimensions"
        );
    }
}
