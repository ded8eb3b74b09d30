//! Reply encoding. RESP3-shaped frames are downgraded for RESP2 clients:
//! maps flatten to arrays, sets and pushes become arrays, doubles become
//! bulk strings, booleans become integers, nulls become `$-1` / `*-1`.

use crate::double::double_text;
use crate::frame::{Frame, Version};
use bytes::{BufMut, BytesMut};

/// Appends `frame` to `out` in the connection's protocol.
pub fn encode(frame: &Frame, version: Version, out: &mut BytesMut) {
    let resp3 = version == Version::Resp3;
    match frame {
        Frame::Simple(s) => line(out, b'+', s),
        Frame::Error(e) => line(out, b'-', e),
        Frame::Integer(n) => {
            out.put_u8(b':');
            put_int(out, *n);
            out.put_slice(b"\r\n");
        }
        Frame::Bulk(b) => bulk(out, b),
        Frame::Null if resp3 => out.put_slice(b"_\r\n"),
        Frame::Null => out.put_slice(b"$-1\r\n"),
        Frame::NullArray if resp3 => out.put_slice(b"_\r\n"),
        Frame::NullArray => out.put_slice(b"*-1\r\n"),
        Frame::Array(items) => aggregate(out, b'*', items, version),
        Frame::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, version),
        Frame::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, version),
        Frame::Map(pairs) => map(out, pairs, version),
        Frame::Keyed(pairs) if resp3 => map(out, pairs, version),
        Frame::Keyed(pairs) => pair_arrays(out, pairs, version),
        Frame::Pairs(pairs) if resp3 => pair_arrays(out, pairs, version),
        Frame::Pairs(pairs) => map(out, pairs, version),
        Frame::Double(d) if resp3 => line(out, b',', double_text(*d).as_bytes()),
        Frame::Double(d) => bulk(out, double_text(*d).as_bytes()),
        Frame::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::Boolean(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Frame::Verbatim(text) if resp3 => {
            out.put_u8(b'=');
            put_int(out, text.len() as i64 + 4);
            out.put_slice(b"\r\ntxt:");
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
        Frame::Verbatim(text) => bulk(out, text),
    }
}

fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    // A reply line cannot carry CR or LF; Redis replaces them with spaces.
    if text.iter().any(|&c| c == b'\r' || c == b'\n') {
        out.extend(text.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 16);
    out.put_u8(b'$');
    put_int(out, data.len() as i64);
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn aggregate(out: &mut BytesMut, prefix: u8, items: &[Frame], version: Version) {
    out.put_u8(prefix);
    put_int(out, items.len() as i64);
    out.put_slice(b"\r\n");
    for item in items {
        encode(item, version, out);
    }
}

/// An array of 2-element arrays.
fn pair_arrays(out: &mut BytesMut, pairs: &[(Frame, Frame)], version: Version) {
    out.put_u8(b'*');
    put_int(out, pairs.len() as i64);
    out.put_slice(b"\r\n");
    for (first, second) in pairs {
        out.put_slice(b"*2\r\n");
        encode(first, version, out);
        encode(second, version, out);
    }
}

fn map(out: &mut BytesMut, pairs: &[(Frame, Frame)], version: Version) {
    if version == Version::Resp3 {
        out.put_u8(b'%');
        put_int(out, pairs.len() as i64);
    } else {
        out.put_u8(b'*');
        put_int(out, pairs.len() as i64 * 2);
    }
    out.put_slice(b"\r\n");
    for (key, value) in pairs {
        encode(key, version, out);
        encode(value, version, out);
    }
}

/// Appends a request (an array of bulk strings), as clients send them.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut impl BufMut) {
    out.put_u8(b'*');
    put_int(out, args.len() as i64);
    out.put_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.put_u8(b'$');
        put_int(out, arg.len() as i64);
        out.put_slice(b"\r\n");
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

/// Appends `n` in decimal, as Redis prints integers, without a heap
/// allocation.
pub fn put_int(out: &mut impl BufMut, n: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(&buf[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(frame: &Frame, version: Version) -> String {
        let mut out = BytesMut::new();
        encode(frame, version, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn resp2_downgrades() {
        let map = Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))]);
        assert_eq!(enc(&map, Version::Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Version::Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        let keyed = Frame::Keyed(vec![(Frame::bulk("k"), Frame::Integer(1))]);
        assert_eq!(enc(&keyed, Version::Resp2), "*1\r\n*2\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(enc(&keyed, Version::Resp3), "%1\r\n$1\r\nk\r\n:1\r\n");
        let pairs = Frame::Pairs(vec![(Frame::bulk("m"), Frame::Double(1.5))]);
        assert_eq!(enc(&pairs, Version::Resp2), "*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n");
        assert_eq!(enc(&pairs, Version::Resp3), "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n");
        assert_eq!(enc(&Frame::Null, Version::Resp2), "$-1\r\n");
        assert_eq!(enc(&Frame::NullArray, Version::Resp2), "*-1\r\n");
        assert_eq!(enc(&Frame::Null, Version::Resp3), "_\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Version::Resp2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Version::Resp3), ",1.5\r\n");
        assert_eq!(enc(&Frame::Boolean(true), Version::Resp2), ":1\r\n");
        assert_eq!(enc(&Frame::Verbatim(Bytes::from_static(b"hi")), Version::Resp3), "=6\r\ntxt:hi\r\n");
        assert_eq!(enc(&Frame::Integer(i64::MIN), Version::Resp2), ":-9223372036854775808\r\n");
        assert_eq!(enc(&Frame::error("ERR a\r\nb"), Version::Resp2), "-ERR a  b\r\n");
    }
}
