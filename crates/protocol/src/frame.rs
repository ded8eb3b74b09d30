//! The reply value model. Commands build RESP3-shaped frames; the encoder
//! downgrades them for RESP2 clients, so command code never branches on the
//! protocol version.

use bytes::Bytes;

/// Which protocol a connection speaks (`HELLO 2` / `HELLO 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    #[default]
    Resp2,
    Resp3,
}

/// One reply value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK`
    Simple(Bytes),
    /// `-ERR ...`: the text carries its own prefix (`ERR`, `WRONGTYPE`, ...).
    Error(Bytes),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// A missing bulk string: RESP2 `$-1`, RESP3 `_`.
    Null,
    /// A missing array: RESP2 `*-1`, RESP3 `_`.
    NullArray,
    Array(Vec<Frame>),
    /// RESP3 map; RESP2 gets a flat array of key, value, key, value.
    Map(Vec<(Frame, Frame)>),
    /// Pairs that RESP3 sends as an array of 2-element arrays and RESP2 as
    /// one flat array (ZRANGE ... WITHSCORES, ZPOPMIN with a count).
    Pairs(Vec<(Frame, Frame)>),
    /// RESP3 map; RESP2 an array of `[key, value]` arrays (XREAD's shape).
    Keyed(Vec<(Frame, Frame)>),
    /// RESP3 set; RESP2 gets an array.
    Set(Vec<Frame>),
    /// RESP3 double; RESP2 gets a bulk string.
    Double(f64),
    /// RESP3 boolean; RESP2 gets `:1` / `:0`.
    Boolean(bool),
    /// RESP3 verbatim string with the `txt` format; RESP2 gets a bulk string.
    Verbatim(Bytes),
    /// RESP3 push (pub/sub, invalidation); RESP2 gets an array.
    Push(Vec<Frame>),
}

impl Frame {
    pub fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    pub fn simple(text: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// An error reply. `message` must include Redis's prefix word, e.g.
    /// `"ERR syntax error"` or `"WRONGTYPE Operation against ..."`.
    pub fn error(message: impl Into<String>) -> Frame {
        Frame::Error(Bytes::from(message.into()))
    }

    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }
}

/// Redis looks for an error prefix's end within the first 32 bytes of the
/// reply, its leading `-` included.
const ERROR_PREFIX_SEARCH: usize = 31;

/// An error reply's prefix by Redis's rule (INFO errorstats): the text up
/// to the first space within the first bytes, or `ERR` if there is none.
pub fn error_code(text: &[u8]) -> &[u8] {
    let head = &text[..text.len().min(ERROR_PREFIX_SEARCH)];
    match head.iter().position(|&b| b == b' ') {
        Some(end) => &text[..end],
        None => b"ERR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_the_first_word_or_err() {
        assert_eq!(error_code(b"WRONGTYPE Operation against a key"), b"WRONGTYPE");
        assert_eq!(error_code(b"ERR wrong number of arguments"), b"ERR");
        assert_eq!(error_code(b"MYCODE"), b"ERR", "no space: ERR");
        let long = [b"A".repeat(40), b" x".to_vec()].concat();
        assert_eq!(error_code(&long), b"ERR", "no space within the first bytes");
        let thirty = [b"B".repeat(30), b" x".to_vec()].concat();
        assert_eq!(error_code(&thirty), &thirty[..30]);
    }
}
