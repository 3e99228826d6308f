//! PURE: vector quantizers for the index access methods — codes a fraction of a vector's size,
//! distance *estimates* between a query and a code, and the codebook that both need.
//!
//! * `sq8.rs` — scalar quantization to 8 bits per dimension (per-dimension min/max); 4× smaller
//!   than float4.
//! * `pq.rs` — product quantization (Jégou, Douze & Schmid, "Product Quantization for Nearest
//!   Neighbor Search", TPAMI 2011): `M` sub-spaces, 256 centroids each, one byte per sub-space,
//!   asymmetric distance tables per query.
//! * `binary.rs` — one bit per dimension (above or below the dimension's mean), compared by
//!   Hamming distance with the popcount kernels; 32× smaller.
//! * `sketch.rs` — RaBitQ sketches (sign bits of a rotated vector and two factors) with an
//!   error scale, for deciding which neighbours a graph search need not read; not used by an
//!   index yet (issue 16).
//!
//! Estimates only order candidates: the index re-ranks the best of them by the exact distance
//! of the full vector (read from the table), so results come back in exact order with exact
//! distances (`src/am/rerank.rs`).
//!
//! A quantizer works on f32 vectors whatever the column type (halfvec values are widened); for
//! cosine the vectors are already unit length when they get here.

pub mod binary;
pub mod pq;
pub mod simd;
pub mod sketch;
pub mod sq8;

use crate::kernels::metric::{Metric, ValueKind};

/// The `quantization` index option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantization {
    None,
    Sq8,
    /// Product quantization with this many sub-spaces.
    Pq(u32),
    Binary,
}

/// Most PQ sub-spaces (one byte of code each).
pub const PQ_MAX_SUBSPACES: u32 = 4096;

impl Quantization {
    /// Parses an option value (`none`, `sq8`, `pq<M>`, `binary`; case-insensitive).
    pub fn parse(s: &str) -> Option<Quantization> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "none" => Some(Quantization::None),
            "sq8" => Some(Quantization::Sq8),
            "binary" => Some(Quantization::Binary),
            _ => {
                let m = s.strip_prefix("pq")?;
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()) || m.len() > 5 {
                    return None;
                }
                let m: u32 = m.parse().ok()?;
                (1..=PQ_MAX_SUBSPACES)
                    .contains(&m)
                    .then_some(Quantization::Pq(m))
            }
        }
    }

    pub fn name(self) -> String {
        match self {
            Quantization::None => "none".into(),
            Quantization::Sq8 => "sq8".into(),
            Quantization::Pq(m) => format!("pq{m}"),
            Quantization::Binary => "binary".into(),
        }
    }

    /// Stored form (meta pages): kind in the low byte, PQ sub-spaces above it.
    pub fn to_u32(self) -> u32 {
        match self {
            Quantization::None => 0,
            Quantization::Sq8 => 1,
            Quantization::Pq(m) => 2 | (m << 8),
            Quantization::Binary => 3,
        }
    }

    pub fn from_u32(x: u32) -> Option<Quantization> {
        match x & 0xFF {
            0 if x == 0 => Some(Quantization::None),
            1 if x == 1 => Some(Quantization::Sq8),
            2 => {
                let m = x >> 8;
                (1..=PQ_MAX_SUBSPACES)
                    .contains(&m)
                    .then_some(Quantization::Pq(m))
            }
            3 if x == 3 => Some(Quantization::Binary),
            _ => None,
        }
    }

    /// Bytes of one code of a `dims`-dimensional vector (`None` for no quantization).
    pub fn code_len(self, dims: usize) -> Option<usize> {
        match self {
            Quantization::None => None,
            Quantization::Sq8 => Some(dims),
            Quantization::Pq(m) => Some(m as usize),
            Quantization::Binary => Some(dims.div_ceil(8)),
        }
    }

    /// Why this quantization cannot index `dims`-dimensional values of `metric`, if it cannot.
    pub fn check(self, metric: Metric, dims: usize) -> Result<(), String> {
        if self == Quantization::None {
            return Ok(());
        }
        match metric.kind() {
            ValueKind::DenseF32 | ValueKind::DenseF16 => {}
            ValueKind::Sparse => return Err("quantization is not supported for sparsevec".into()),
            ValueKind::Bits => return Err("quantization is not supported for bit".into()),
        }
        if let Quantization::Pq(m) = self {
            if !dims.is_multiple_of(m as usize) {
                return Err(format!(
                    "pq{m} needs dimensions divisible by {m}, the column has {dims}"
                ));
            }
        }
        Ok(())
    }
}

/// How an estimate combines per-dimension terms (from the index metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Squared Euclidean distance.
    L2,
    /// Negative dot product (inner product, and cosine on unit vectors).
    NegDot,
    /// Manhattan distance.
    L1,
}

impl Op {
    pub fn of(metric: Metric) -> Option<Op> {
        use Metric::*;
        match metric {
            L2F32 | L2F16 => Some(Op::L2),
            IpF32 | CosineF32 | IpF16 | CosineF16 => Some(Op::NegDot),
            L1F32 | L1F16 => Some(Op::L1),
            _ => None,
        }
    }

    /// The exact value of this op between two f32 vectors (f64 sums: the tests' reference).
    #[cfg(test)]
    pub fn exact(self, a: &[f32], b: &[f32]) -> f32 {
        let it = a.iter().zip(b).map(|(x, y)| (*x as f64, *y as f64));
        (match self {
            Op::L2 => it.map(|(x, y)| (x - y) * (x - y)).sum::<f64>(),
            Op::NegDot => -it.map(|(x, y)| x * y).sum::<f64>(),
            Op::L1 => it.map(|(x, y)| (x - y).abs()).sum::<f64>(),
        }) as f32
    }
}

/// A trained codebook.
#[derive(Clone, Debug, PartialEq)]
pub enum Codebook {
    Sq8(sq8::Sq8),
    Pq(pq::Pq),
    Binary(binary::Binary),
}

/// A query prepared against a codebook: estimates its distance to codes.
pub enum Prepared {
    Sq8(sq8::Sq8Query),
    Pq(pq::PqQuery),
    Binary(binary::BinaryQuery),
}

/// Serialised codebook header: magic, format version, kind (`Quantization::to_u32`), dims.
const MAGIC: u32 = 0x5256_4342; // "RVCB"
const CODEBOOK_VERSION: u32 = 1;

impl Codebook {
    /// Trains a codebook on `sample` (`n` row-major points of `dims` floats). With no points,
    /// a codebook for unit-scale data is made (values in [−1, 1]); the index says so with a
    /// NOTICE and REINDEX trains a real one.
    pub fn train(
        q: Quantization,
        dims: usize,
        sample: &[f32],
        pool: Option<&rayon::ThreadPool>,
        progress: &mut dyn FnMut(),
    ) -> Codebook {
        match q {
            Quantization::Sq8 => Codebook::Sq8(sq8::Sq8::train(dims, sample)),
            Quantization::Pq(m) => {
                Codebook::Pq(pq::Pq::train(dims, m as usize, sample, pool, progress))
            }
            Quantization::Binary => Codebook::Binary(binary::Binary::train(dims, sample)),
            Quantization::None => panic!("no codebook without quantization"),
        }
    }

    pub fn quantization(&self) -> Quantization {
        match self {
            Codebook::Sq8(_) => Quantization::Sq8,
            Codebook::Pq(p) => Quantization::Pq(p.subspaces() as u32),
            Codebook::Binary(_) => Quantization::Binary,
        }
    }

    pub fn dims(&self) -> usize {
        match self {
            Codebook::Sq8(s) => s.dims(),
            Codebook::Pq(p) => p.dims(),
            Codebook::Binary(b) => b.dims(),
        }
    }

    pub fn code_len(&self) -> usize {
        self.quantization()
            .code_len(self.dims())
            .expect("quantized")
    }

    pub fn encode(&self, x: &[f32]) -> Vec<u8> {
        match self {
            Codebook::Sq8(s) => s.encode(x),
            Codebook::Pq(p) => p.encode(x),
            Codebook::Binary(b) => b.encode(x),
        }
    }

    /// The vector a code stands for.
    pub fn decode(&self, code: &[u8]) -> Vec<f32> {
        match self {
            Codebook::Sq8(s) => s.decode(code),
            Codebook::Pq(p) => p.decode(code),
            Codebook::Binary(b) => b.decode(code),
        }
    }

    /// Bytes of the codebook's parameters in memory (its serialised size less the header).
    pub fn memory(&self) -> usize {
        match self {
            Codebook::Sq8(s) => s.memory(),
            Codebook::Pq(p) => p.memory(),
            Codebook::Binary(b) => b.memory(),
        }
    }

    pub fn prepare(&self, query: &[f32], op: Op) -> Prepared {
        match self {
            Codebook::Sq8(s) => Prepared::Sq8(s.prepare(query, op)),
            Codebook::Pq(p) => Prepared::Pq(p.prepare(query, op)),
            Codebook::Binary(b) => Prepared::Binary(b.prepare(query)),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for x in [
            MAGIC,
            CODEBOOK_VERSION,
            self.quantization().to_u32(),
            self.dims() as u32,
        ] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let floats = match self {
            Codebook::Sq8(s) => s.floats(),
            Codebook::Pq(p) => p.floats(),
            Codebook::Binary(b) => b.floats(),
        };
        for f in floats {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out
    }

    /// Reads a serialised codebook; `None` if the bytes are not one.
    pub fn from_bytes(b: &[u8]) -> Option<Codebook> {
        if b.len() < 16 || !b.len().is_multiple_of(4) {
            return None;
        }
        let word = |i: usize| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap());
        if word(0) != MAGIC || word(1) != CODEBOOK_VERSION {
            return None;
        }
        let q = Quantization::from_u32(word(2))?;
        let dims = word(3) as usize;
        let floats: Vec<f32> = b[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        match q {
            Quantization::Sq8 => sq8::Sq8::from_floats(dims, floats).map(Codebook::Sq8),
            Quantization::Pq(m) => pq::Pq::from_floats(dims, m as usize, floats).map(Codebook::Pq),
            Quantization::Binary => binary::Binary::from_floats(dims, floats).map(Codebook::Binary),
            Quantization::None => None,
        }
    }
}

impl Prepared {
    /// The estimated distance of the query to `code` (smaller is closer).
    #[inline]
    pub fn distance(&self, code: &[u8]) -> f32 {
        match self {
            Prepared::Sq8(q) => q.distance(code),
            Prepared::Pq(q) => q.distance(code),
            Prepared::Binary(q) => q.distance(code),
        }
    }

    /// Bytes of memory the prepared query takes (distance tables).
    pub fn memory(&self) -> usize {
        match self {
            Prepared::Sq8(q) => q.memory(),
            Prepared::Pq(q) => q.memory(),
            Prepared::Binary(q) => q.memory(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_parse() {
        assert_eq!(Quantization::parse("SQ8"), Some(Quantization::Sq8));
        assert_eq!(Quantization::parse("pq48"), Some(Quantization::Pq(48)));
        assert_eq!(Quantization::parse(" none "), Some(Quantization::None));
        assert_eq!(Quantization::parse("binary"), Some(Quantization::Binary));
        for bad in [
            "pq",
            "pq0",
            "pq-1",
            "pq4097",
            "pq1.5",
            "sq4",
            "",
            "pq999999999999",
        ] {
            assert_eq!(Quantization::parse(bad), None, "{bad}");
        }
        for q in [
            Quantization::None,
            Quantization::Sq8,
            Quantization::Pq(7),
            Quantization::Binary,
        ] {
            assert_eq!(Quantization::from_u32(q.to_u32()), Some(q));
            assert_eq!(Quantization::parse(&q.name()), Some(q));
        }
    }

    #[test]
    fn pq_must_divide_dimensions() {
        assert!(Quantization::Pq(8).check(Metric::L2F32, 384).is_ok());
        assert_eq!(
            Quantization::Pq(7).check(Metric::L2F32, 384).unwrap_err(),
            "pq7 needs dimensions divisible by 7, the column has 384"
        );
        assert!(Quantization::Sq8.check(Metric::Hamming, 64).is_err());
    }

    #[test]
    fn codebooks_round_trip_through_bytes() {
        let dims = 16;
        let sample: Vec<f32> = (0..dims * 300)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        for q in [Quantization::Sq8, Quantization::Pq(4), Quantization::Binary] {
            let cb = Codebook::train(q, dims, &sample, None, &mut || {});
            let back = Codebook::from_bytes(&cb.to_bytes()).expect("valid");
            assert_eq!(back, cb);
            assert_eq!(cb.memory(), cb.to_bytes().len() - 16);
            let mut bytes = cb.to_bytes();
            bytes.truncate(bytes.len() - 4);
            assert!(Codebook::from_bytes(&bytes).is_none());
        }
    }
}
