//! Reading and patching index pages in a stopped cluster's files (the damage tests): items of
//! a page, and TIDs as the indexes store them.

/// A TID as the indexes store it: block (high and low 16 bits) and offset, native-endian.
pub fn read_tid(b: &[u8]) -> (u32, u16) {
    let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
    ((u(0) as u32) << 16 | u(2) as u32, u(4))
}

/// Writes a TID as the indexes store it ([`read_tid`]).
pub fn write_tid(b: &mut [u8], (block, offset): (u32, u16)) {
    b[0..2].copy_from_slice(&((block >> 16) as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&(block as u16).to_ne_bytes());
    b[4..6].copy_from_slice(&offset.to_ne_bytes());
}

/// The items of a page (storage/bufpage.h: `pd_lower` at byte 12, 4-byte line pointers from
/// byte 24: offset in the low 15 bits, length in the high 15) with their offset numbers.
pub fn items(page: &[u8]) -> Vec<(u16, std::ops::Range<usize>)> {
    let lower = u16::from_ne_bytes([page[12], page[13]]) as usize;
    (24..lower)
        .step_by(4)
        .enumerate()
        .filter_map(|(i, at)| {
            let lp = u32::from_ne_bytes(page[at..at + 4].try_into().unwrap());
            let (off, len) = ((lp & 0x7FFF) as usize, (lp >> 17) as usize);
            (len > 0).then_some((i as u16 + 1, off..off + len))
        })
        .collect()
}
