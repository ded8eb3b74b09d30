//! Stream structure tests: trimming by node, ranges, ID rules.

use super::*;

fn stream_of(n: u64) -> Stream {
    let mut s = Stream::default();
    for i in 1..=n {
        s.push(StreamId::new(i, 0), Fields::pack([&b"f"[..], i.to_string().as_bytes()].into_iter()));
    }
    s
}

#[test]
fn exact_trims_to_the_length_or_id() {
    let mut s = stream_of(250);
    assert_eq!(s.trim(Trim::MaxLen(10), false, 0), 240);
    assert_eq!(s.first_id(), Some(StreamId::new(241, 0)));
    assert_eq!(s.trim(Trim::MinId(StreamId::new(245, 1)), false, 0), 5);
    assert_eq!(s.first_id(), Some(StreamId::new(246, 0)));
    assert_eq!(s.max_deleted_id, StreamId::new(245, 0));
}

#[test]
fn approximate_trims_whole_nodes_within_the_limit() {
    let mut s = stream_of(250);
    // Nodes hold ordinals 0-99, 100-199, 200-249: 250 - 100 - 100 >= 10.
    assert_eq!(s.trim(Trim::MaxLen(10), true, DEFAULT_TRIM_LIMIT), 200);
    assert_eq!(s.len(), 50);
    let mut s = stream_of(250);
    assert_eq!(s.trim(Trim::MaxLen(10), true, 150), 100, "a node that would pass the limit stays");
    let mut s = stream_of(250);
    assert_eq!(s.trim(Trim::MinId(StreamId::new(150, 0)), true, 0), 100);
    assert_eq!(s.trim(Trim::MaxLen(0), true, 0), 150, "~ 0 empties the stream");
}

#[test]
fn ranges_are_inclusive_and_counted() {
    let s = stream_of(10);
    let ids = |v: Vec<(StreamId, &Entry)>| v.into_iter().map(|(id, _)| id.ms).collect::<Vec<_>>();
    assert_eq!(ids(s.range(StreamId::new(3, 0), StreamId::new(5, 0), false, 0)), vec![3, 4, 5]);
    assert_eq!(ids(s.range(StreamId::MIN, StreamId::MAX, true, 2)), vec![10, 9]);
    assert!(s.range(StreamId::new(5, 0), StreamId::new(4, 0), false, 0).is_empty());
}

#[test]
fn ids_parse_as_redis_parses_them() {
    use id::Parsed;
    assert_eq!(StreamId::parse_strict(b"5", 0, false).ok(), Some(Parsed::Id(StreamId::new(5, 0))));
    assert_eq!(StreamId::parse_strict(b"5", u64::MAX, false).ok(), Some(Parsed::Id(StreamId::new(5, u64::MAX))));
    assert_eq!(StreamId::parse_strict(b"5-*", 0, true).ok(), Some(Parsed::AutoSeq(5)));
    for bad in [&b"5-*"[..], b"-", b"a-1", b"1-", b"-1", b"1-2-3", b"18446744073709551616"] {
        assert!(StreamId::parse_strict(bad, 0, false).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(StreamId::parse_bound(b"(3-4", 0).ok(), Some((StreamId::new(3, 4), true)));
    assert_eq!(StreamId::MAX.next(), None);
    assert_eq!(StreamId::new(1, 0).prev(), Some(StreamId::new(0, u64::MAX)));
}

#[test]
fn id_bytes_match_the_display_form() {
    for (ms, seq) in [(0, 0), (1, 0), (9, 10), (1_700_000_000_123, 7), (u64::MAX, u64::MAX), (10, u64::MAX)] {
        let id = StreamId::new(ms, seq);
        assert_eq!(id.to_bytes(), Bytes::from(format!("{ms}-{seq}")));
    }
}
