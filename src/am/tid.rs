//! Tuple addresses shared by the index access methods.

use pgrx::pg_sys;

/// An index tuple address: block and 1-based line pointer offset (PostgreSQL's
/// `ItemPointerData`), packed as `block << 16 | offset` for hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Tid {
    pub block: u32,
    pub offset: u16,
}

impl Tid {
    pub const INVALID: Tid = Tid {
        block: u32::MAX,
        offset: 0,
    };

    pub fn new(block: u32, offset: u16) -> Tid {
        Tid { block, offset }
    }

    pub fn is_valid(&self) -> bool {
        self.block != u32::MAX && self.offset != 0
    }

    pub fn pack(&self) -> u64 {
        (self.block as u64) << 16 | self.offset as u64
    }

    pub fn unpack(x: u64) -> Tid {
        Tid {
            block: (x >> 16) as u32,
            offset: x as u16,
        }
    }

    /// `ItemPointerData` bytes: BlockIdData { bi_hi, bi_lo } then ip_posid, native endian.
    pub fn write(&self, out: &mut [u8]) {
        let hi = (self.block >> 16) as u16;
        let lo = self.block as u16;
        out[0..2].copy_from_slice(&hi.to_ne_bytes());
        out[2..4].copy_from_slice(&lo.to_ne_bytes());
        out[4..6].copy_from_slice(&self.offset.to_ne_bytes());
    }

    pub fn read(b: &[u8]) -> Tid {
        let hi = u16::from_ne_bytes([b[0], b[1]]) as u32;
        let lo = u16::from_ne_bytes([b[2], b[3]]) as u32;
        Tid {
            block: hi << 16 | lo,
            offset: u16::from_ne_bytes([b[4], b[5]]),
        }
    }
}

impl Tid {
    /// From PostgreSQL's `ItemPointerData`.
    pub fn from_item_pointer(p: &pg_sys::ItemPointerData) -> Tid {
        Tid::new(
            (p.ip_blkid.bi_hi as u32) << 16 | p.ip_blkid.bi_lo as u32,
            p.ip_posid,
        )
    }

    /// As PostgreSQL's `ItemPointerData`.
    pub fn to_item_pointer(self) -> pg_sys::ItemPointerData {
        pg_sys::ItemPointerData {
            ip_blkid: pg_sys::BlockIdData {
                bi_hi: (self.block >> 16) as u16,
                bi_lo: self.block as u16,
            },
            ip_posid: self.offset,
        }
    }
}
