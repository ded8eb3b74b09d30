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
