//! pgvector's binary wire format, spoken by both extensions: query parameters sent in binary,
//! and `COPY ... (FORMAT BINARY)` for loading.
//!
//! `vector` binary (pgvector `vector_send`, identical for ruvector's `ruvector`): `int16` dim,
//! `int16` unused (0), then `dim` × `float4`, all big-endian. COPY binary framing is
//! PostgreSQL's (docs: "COPY — Binary Format").

use postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// Appends the binary image of a float vector.
pub fn encode_vector(v: &[f32], out: &mut Vec<u8>) {
    out.extend_from_slice(&(v.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for x in v {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

/// A float vector query parameter, sent in binary to a `ruvector` or pgvector `vector` column.
#[derive(Debug)]
pub struct VectorParam<'a>(pub &'a [f32]);

impl ToSql for VectorParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mut v = Vec::with_capacity(4 + 4 * self.0.len());
        encode_vector(self.0, &mut v);
        out.extend_from_slice(&v);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(ty.name(), "vector" | "ruvector")
    }

    to_sql_checked!();
}

/// A `COPY table (id, embedding [, int4 columns...]) FROM STDIN (FORMAT BINARY)` stream of
/// `(int4, vector [, int4...])` rows.
pub struct CopyRows {
    buf: Vec<u8>,
}

impl Default for CopyRows {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyRows {
    pub fn new() -> CopyRows {
        let mut buf = Vec::new();
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyRows { buf }
    }

    pub fn row(&mut self, id: i32, v: &[f32]) {
        self.row_with_ints(id, v, &[]);
    }

    /// A row with further non-null `int4` columns after the vector (the filter columns of
    /// `--filter`).
    pub fn row_with_ints(&mut self, id: i32, v: &[f32], ints: &[i32]) {
        self.buf
            .extend_from_slice(&(2 + ints.len() as i16).to_be_bytes());
        self.buf.extend_from_slice(&4i32.to_be_bytes());
        self.buf.extend_from_slice(&id.to_be_bytes());
        self.buf
            .extend_from_slice(&((4 + 4 * v.len()) as i32).to_be_bytes());
        encode_vector(v, &mut self.buf);
        for x in ints {
            self.buf.extend_from_slice(&4i32.to_be_bytes());
            self.buf.extend_from_slice(&x.to_be_bytes());
        }
    }

    /// Takes the bytes written so far (to stream them in chunks).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The trailer that ends the stream.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_image_is_pgvectors() {
        let mut out = Vec::new();
        encode_vector(&[1.0, -2.5], &mut out);
        assert_eq!(
            out,
            [0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0],
            "int16 dim, int16 unused, big-endian float4s"
        );
    }

    #[test]
    fn copy_framing() {
        let mut c = CopyRows::new();
        c.row(7, &[1.0]);
        let bytes = c.finish();
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&bytes[19..21], &[0, 2]); // two fields
        assert_eq!(&bytes[21..25], &[0, 0, 0, 4]);
        assert_eq!(&bytes[25..29], &[0, 0, 0, 7]);
        assert_eq!(&bytes[29..33], &[0, 0, 0, 8]);
        assert_eq!(&bytes[bytes.len() - 2..], &[0xff, 0xff]);
    }

    #[test]
    fn copy_int_columns_follow_the_vector() {
        let mut c = CopyRows::new();
        c.row_with_ints(7, &[1.0], &[-2, 300]);
        let bytes = c.finish();
        assert_eq!(&bytes[19..21], &[0, 4]); // four fields
        assert_eq!(&bytes[29..33], &[0, 0, 0, 8]); // the vector's length, as before
        assert_eq!(&bytes[41..45], &[0, 0, 0, 4]);
        assert_eq!(&bytes[45..49], &(-2i32).to_be_bytes());
        assert_eq!(&bytes[53..57], &300i32.to_be_bytes());
        assert_eq!(bytes.len(), 57 + 2);
    }
}
