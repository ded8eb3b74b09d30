//! The on-disk record format.
//!
//! ```text
//! header (26 bytes, little-endian):
//!   body_len u32 | partition u32 | kind u8 | flags u8 | index u64 | body_crc u32 | header_crc u32
//! body (body_len bytes)
//! ```
//! `header_crc` is crc32c of the 22 bytes before it, so a flipped length is
//! caught before it is trusted; `body_crc` covers the body.

use bytes::{BufMut, Bytes};

pub const HEADER_LEN: usize = 26;
const FLAG_STICKY: u8 = 1;
/// A record body larger than this is corruption (batches are far smaller).
pub const MAX_BODY_LEN: usize = 256 << 20;

/// A record to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub partition: u32,
    pub kind: u8,
    /// For non-sticky records: the caller's log index, which pins the
    /// segment until released.
    pub index: u64,
    /// Sticky records (latest per partition and kind) are rewritten at the
    /// head of every new segment and never pin one.
    pub sticky: bool,
    pub body: Bytes,
}

/// A record as replayed.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    pub partition: u32,
    pub kind: u8,
    pub index: u64,
    pub sticky: bool,
    pub body: &'a [u8],
}

impl Record {
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        debug_assert!(self.body.len() <= MAX_BODY_LEN);
        let start = out.len();
        out.put_u32_le(self.body.len() as u32);
        out.put_u32_le(self.partition);
        out.put_u8(self.kind);
        out.put_u8(if self.sticky { FLAG_STICKY } else { 0 });
        out.put_u64_le(self.index);
        out.put_u32_le(crc32c::crc32c(&self.body));
        let header_crc = crc32c::crc32c(&out[start..]);
        out.put_u32_le(header_crc);
        out.put_slice(&self.body);
    }
}

/// Why the bytes at an offset are not a record.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Fewer bytes than a header or than the body it declares.
    Incomplete,
    HeaderChecksum,
    BodyChecksum,
    TooLarge,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses the record at the start of `data`; returns it and its length.
pub fn parse(data: &[u8]) -> Result<(RecordRef<'_>, usize), Invalid> {
    if data.len() < HEADER_LEN {
        return Err(Invalid::Incomplete);
    }
    if crc32c::crc32c(&data[..22]) != u32_at(data, 22) {
        return Err(Invalid::HeaderChecksum);
    }
    let body_len = u32_at(data, 0) as usize;
    if body_len > MAX_BODY_LEN {
        return Err(Invalid::TooLarge);
    }
    let end = HEADER_LEN + body_len;
    if data.len() < end {
        return Err(Invalid::Incomplete);
    }
    let body = &data[HEADER_LEN..end];
    if crc32c::crc32c(body) != u32_at(data, 18) {
        return Err(Invalid::BodyChecksum);
    }
    let mut index = [0u8; 8];
    index.copy_from_slice(&data[10..18]);
    let record = RecordRef {
        partition: u32_at(data, 4),
        kind: data[8],
        index: u64::from_le_bytes(index),
        sticky: data[9] & FLAG_STICKY != 0,
        body,
    };
    Ok((record, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record { partition: 3, kind: 7, index: 42, sticky: true, body: Bytes::from_static(b"hello") }
    }

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        sample().encode_into(&mut out);
        let (r, len) = parse(&out).expect("parses");
        assert_eq!(len, out.len());
        assert_eq!((r.partition, r.kind, r.index, r.sticky, r.body), (3, 7, 42, true, &b"hello"[..]));
    }

    #[test]
    fn every_flipped_byte_is_caught() {
        let mut out = Vec::new();
        sample().encode_into(&mut out);
        for i in 0..out.len() {
            let mut bad = out.clone();
            bad[i] ^= 0x10;
            assert!(parse(&bad).is_err(), "flip at {i} went unnoticed");
        }
    }
}
