//! Stream IDs (`ms-seq`) and Redis's rules for parsing them.

use bytes::{Bytes, BytesMut};
use weir_protocol::Frame;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// What a parsed ID leaves open: XADD's `ms-*` asks for the next sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Id(StreamId),
    /// `ms-*`
    AutoSeq(u64),
}

/// Digits of `u64::MAX`.
const MAX_U64_DIGITS: usize = 20;
/// The longest `ms-seq`.
pub const MAX_ID_TEXT: usize = 2 * MAX_U64_DIGITS + 1;

/// Writes `n` in decimal at `out[at..]`; returns the end.
fn write_u64(out: &mut [u8], at: usize, mut n: u64) -> usize {
    let mut digits = [0u8; MAX_U64_DIGITS];
    let mut len = 0;
    loop {
        digits[MAX_U64_DIGITS - 1 - len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out[at..at + len].copy_from_slice(&digits[MAX_U64_DIGITS - len..]);
    at + len
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_sub(1).map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }

    /// `ms-seq` as bytes, formatted without `fmt` (XADD's reply: on the
    /// hot path, where `to_string` cost a growing allocation per entry).
    pub fn to_bytes(self) -> Bytes {
        let mut out = BytesMut::with_capacity(MAX_ID_TEXT);
        self.write_text(&mut out);
        out.freeze()
    }

    /// Appends `ms-seq` to `out`.
    pub fn write_text(self, out: &mut BytesMut) {
        let mut text = [0u8; MAX_ID_TEXT];
        let mut end = write_u64(&mut text, 0, self.ms);
        text[end] = b'-';
        end = write_u64(&mut text, end + 1, self.seq);
        out.extend_from_slice(&text[..end]);
    }

    /// `ms` or `ms-seq` (a missing sequence is `missing_seq`); with
    /// `allow_auto_seq`, also `ms-*`. Strict: no `-`, `+` or `$`.
    pub fn parse_strict(arg: &[u8], missing_seq: u64, allow_auto_seq: bool) -> Result<Parsed, Frame> {
        let invalid = || Frame::error(INVALID_ID);
        let text = std::str::from_utf8(arg).map_err(|_| invalid())?;
        let (ms, seq) = match text.split_once('-') {
            None => (text, None),
            Some((ms, seq)) => (ms, Some(seq)),
        };
        let ms = parse_u64(ms).ok_or_else(invalid)?;
        match seq {
            None => Ok(Parsed::Id(StreamId { ms, seq: missing_seq })),
            Some("*") if allow_auto_seq => Ok(Parsed::AutoSeq(ms)),
            Some(seq) => Ok(Parsed::Id(StreamId { ms, seq: parse_u64(seq).ok_or_else(invalid)? })),
        }
    }

    /// A strict ID where `ms-*` is not allowed.
    pub fn parse_exact(arg: &[u8], missing_seq: u64) -> Result<StreamId, Frame> {
        match StreamId::parse_strict(arg, missing_seq, false)? {
            Parsed::Id(id) => Ok(id),
            Parsed::AutoSeq(_) => Err(Frame::error(INVALID_ID)),
        }
    }

    /// A range bound: `-`, `+`, an ID, or `(ID` (exclusive, as
    /// `(inclusive, excluded)`).
    pub fn parse_bound(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Frame> {
        match arg {
            b"-" => Ok((StreamId::MIN, false)),
            b"+" => Ok((StreamId::MAX, false)),
            [b'(', rest @ ..] if !rest.is_empty() => Ok((StreamId::parse_exact(rest, missing_seq)?, true)),
            _ => Ok((StreamId::parse_exact(arg, missing_seq)?, false)),
        }
    }
}

/// Redis's `string2ull`: digits only, no sign, no overflow.
fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}
