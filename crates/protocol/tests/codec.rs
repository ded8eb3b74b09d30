//! proptest: requests round-trip through the decoder however the bytes are
//! split; arbitrary bytes never panic it; replies encode to valid RESP.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::Decoder;
use weir_protocol::{encode, Frame, Limits, RequestDecoder, Version};

fn encode_request(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    weir_protocol::encode_request(args, &mut out);
    out
}

/// Feeds `input` in chunks of the given sizes, collecting every request.
fn decode_in_chunks(input: &[u8], sizes: &[usize], limits: Limits) -> Result<Vec<Vec<Bytes>>, String> {
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(input.len()).max(1);
        let end = (at + n).min(input.len());
        buf.extend_from_slice(&input[at..end]);
        at = end;
        i += 1;
        while let Some(args) = decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            out.push(args);
        }
    }
    Ok(out)
}

/// A piece of near-RESP input: a valid request, a header with a doubtful
/// length, or a body.
fn resp_piece() -> impl Strategy<Value = Vec<u8>> {
    let request =
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 1..11).prop_map(|r| encode_request(&r));
    let lengths = vec!["0", "1", "2", "3", "9", "01", "00", "-1", "+1", "10", "x", "", "1234567890"];
    let header = (
        prop::sample::select(vec!["*", "$"]),
        prop::sample::select(lengths),
        prop::sample::select(vec!["\r\n", "\n", "\r", ""]),
    )
        .prop_map(|(kind, len, end)| format!("{kind}{len}{end}").into_bytes());
    let body = (prop::collection::vec(prop::sample::select(b"ab\r\n*$ ".to_vec()), 0..4), any::<bool>()).prop_map(
        |(mut body, crlf)| {
            if crlf {
                body.extend_from_slice(b"\r\n");
            }
            body
        },
    );
    prop_oneof![1 => request, 3 => header, 2 => body]
}

/// A minimal RESP reply reader: returns the bytes one frame spans.
fn reply_len(data: &[u8]) -> Option<usize> {
    let line_end = data.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&data[1..line_end]).ok()?;
    let after = line_end + 2;
    match data[0] {
        b'+' | b'-' | b':' | b',' | b'#' | b'_' => Some(after),
        b'$' | b'=' => {
            let n: i64 = line.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize;
            (data.get(end..end + 2)? == b"\r\n").then_some(end + 2)
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n: i64 = line.parse().ok()?;
            let items = if data[0] == b'%' { n * 2 } else { n };
            let mut at = after;
            for _ in 0..items.max(0) {
                at += reply_len(&data[at..])?;
            }
            Some(at)
        }
        _ => None,
    }
}

fn frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Frame::Integer),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| Frame::Bulk(b.into())),
        "[a-zA-Z ]{0,12}".prop_map(|s| Frame::Simple(Bytes::from(s))),
        "[a-zA-Z ]{0,12}".prop_map(|s| Frame::error(format!("ERR {s}"))),
        Just(Frame::Null),
        Just(Frame::NullArray),
        any::<f64>().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Frame::Array),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Frame::Set),
            prop::collection::vec((inner.clone(), inner), 0..3).prop_map(Frame::Map),
        ]
    })
}

proptest! {
    // Cheap cases, and the doubtful ones are rare in the pieces drawn.
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// A request that arrives whole takes the one-pass parser; fed a byte
    /// at a time it takes the resumable one. Both must agree on every input,
    /// errors included: near-RESP input (valid requests mixed with stray
    /// headers, signs, leading zeros, short bulks) probes where they part.
    #[test]
    fn whole_and_resumable_parsing_agree(pieces in prop::collection::vec(resp_piece(), 0..12)) {
        let input: Vec<u8> = pieces.concat();
        let whole = decode_in_chunks(&input, &[input.len().max(1)], Limits::default());
        let resumable = decode_in_chunks(&input, &[1], Limits::default());
        prop_assert_eq!(whole, resumable);
        let limits = Limits { max_bulk_len: 3, max_args: 2, max_query_buffer: 5, ..Limits::default() };
        prop_assert_eq!(decode_in_chunks(&input, &[input.len().max(1)], limits), decode_in_chunks(&input, &[1], limits));
    }
}

proptest! {
    #[test]
    fn requests_round_trip_in_any_chunking(
        requests in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6), 1..8),
        sizes in prop::collection::vec(1usize..50, 1..6),
    ) {
        let input: Vec<u8> = requests.iter().flat_map(|r| encode_request(r)).collect();
        let decoded = decode_in_chunks(&input, &sizes, Limits::default()).expect("valid input decodes");
        let decoded: Vec<Vec<Vec<u8>>> = decoded.iter().map(|r| r.iter().map(|a| a.to_vec()).collect()).collect();
        prop_assert_eq!(decoded, requests);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512), sizes in prop::collection::vec(1usize..64, 1..4)) {
        let _ = decode_in_chunks(&input, &sizes, Limits::default());
        let _ = decode_in_chunks(&input, &sizes, Limits::unauthenticated());
    }

    #[test]
    fn limits_hold(len in 0usize..3000, max in 1usize..2000) {
        let limits = Limits { max_bulk_len: max, ..Limits::default() };
        let input = encode_request(&[vec![b'x'; len]]);
        let result = decode_in_chunks(&input, &[7], limits);
        prop_assert_eq!(result.is_ok(), len <= max);
    }

    #[test]
    fn replies_encode_to_one_complete_frame(frame in frame(), resp3 in any::<bool>()) {
        let mut out = BytesMut::new();
        encode(&frame, if resp3 { Version::Resp3 } else { Version::Resp2 }, &mut out);
        prop_assert_eq!(reply_len(&out), Some(out.len()));
    }
}
