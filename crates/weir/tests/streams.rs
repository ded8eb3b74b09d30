//! Stream commands against a live redis-server: the same command sequence
//! on both, reply for reply (explicit IDs, so time does not differ), and
//! the auto-ID rules on weir alone.

mod common;

use redis::Value;

/// Replies as they are.
fn same(v: Value) -> Value {
    v
}

const SEQUENCE: &[&str] = &[
    "XADD s 1-1 a 1",
    "XADD s 1-1 a dup",
    "XADD s 1-* b 2",
    "XADD s 2 c 3 d 4",
    "XADD s 0-0 a 1",
    "XADD s 0 a 1",
    "XADD s 5-* e 5",
    "XADD s 1-* e 5",
    "XADD s bad f v",
    "XADD s 9-1 f",
    "XADD s 9-1",
    "XADD nokey NOMKSTREAM 1-1 f v",
    "EXISTS nokey",
    "XLEN s",
    "XLEN missing",
    "XRANGE s - +",
    "XRANGE s - + COUNT 2",
    "XRANGE s - + COUNT 0",
    "XRANGE s - + COUNT -3",
    "XRANGE s (1-1 +",
    "XRANGE s 1 1",
    "XRANGE s (1-2 (5-0",
    "XRANGE s 2 1",
    "XRANGE s - + FOO 1",
    "XRANGE s x +",
    "XRANGE s (- +",
    "XRANGE s (18446744073709551615-18446744073709551615 +",
    "XRANGE missing - + COUNT 0",
    "XREVRANGE s + -",
    "XREVRANGE s + - COUNT 1",
    "XREVRANGE s 2 1-2",
    "XDEL s 1-2 7-7",
    "XDEL s bad",
    "XDEL missing 1-1",
    "XLEN s",
    "XADD s 1-3 late x",
    "XSETID s 1-0",
    "XSETID s 100-0 ENTRIESADDED 1",
    "XSETID s 100-0 ENTRIESADDED 10 MAXDELETEDID 2-0",
    "XSETID s 100-0 MAXDELETEDID 200-0",
    "XSETID s 100-0 BOGUS 1",
    "XSETID missing 1-1",
    "XADD s 50-1 a 1",
    "XADD s 100-1 a 1",
    "XTRIM s MAXLEN 2",
    "XRANGE s - +",
    "XTRIM s MINID 100-1",
    "XTRIM s",
    "XTRIM s MAXLEN",
    "XTRIM s MAXLEN -1",
    "XTRIM s MAXLEN 1 LIMIT 10",
    "XTRIM s LIMIT 10",
    "XTRIM s MAXLEN 1 MINID 1",
    "XTRIM s MAXLEN ~ 1 LIMIT -1",
    "XTRIM missing MAXLEN 0",
    "XADD s MAXLEN 1 200-1 a 1",
    "XRANGE s - +",
    "XADD s MAXLEN ~ 1 LIMIT 5 201-1 a 1",
    "XADD s LIMIT 5 202-1 a 1",
    "XADD s MAXLEN = 1 MINID 1 203-1 a 1",
    "SET str x",
    "XADD str 1-1 a 1",
    "XLEN str",
    "XRANGE str - +",
    "TYPE s",
    "XADD s NOMKSTREAM 300-1 a 1",
    "XADD s MAXLEN x 301-1 a 1",
    "XADD s MAXLEN ~ x 301-1 a 1",
    "XADD s MINID bad 301-1 a 1",
    "XADD s MINID 0-1 MAXLEN 1 301-1 a 1",
    "XADD s LIMIT x MAXLEN ~ 1 301-1 a 1",
    "XADD s MAXLEN ~ 5 LIMIT 0 301-2 a 1",
    "XADD s 301-3 a",
    "XADD s 18446744073709551615-18446744073709551615 a 1",
    "XADD s * a 1",
    "XADD s 18446744073709551615-* a 1",
    "XRANGE s ( +",
    "XREVRANGE s (301-2 (1",
    "XREVRANGE s + - COUNT 0",
    "XRANGE s - + COUNT x",
    "XDEL s 301-2 301-2",
    "XSETID s 18446744073709551615-18446744073709551615 ENTRIESADDED -1",
    "XSETID s 5-5 MAXDELETEDID bad",
    "XLEN s",
];

#[test]
fn stream_replies_match_redis_server() {
    let redis = common::start_redis(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let want = common::replies(&mut redis.client(), SEQUENCE, same);
    let got = common::replies(&mut node.client(), SEQUENCE, same);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w);
    }
}

/// Approximate trimming removes whole 100-entry nodes, as Redis does.
#[test]
fn approximate_trims_match_redis_server() {
    let redis = common::start_redis(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut commands: Vec<String> = (1..=450).map(|i| format!("XADD t {i}-0 f v")).collect();
    for line in [
        "XTRIM t MAXLEN ~ 120",
        "XLEN t",
        "XTRIM t MINID ~ 390",
        "XLEN t",
        "XTRIM t MAXLEN ~ 0 LIMIT 100",
        "XADD t MAXLEN ~ 10 451-0 f v",
        "XRANGE t - + COUNT 1",
    ] {
        commands.push(line.to_string());
    }
    let want = common::replies(&mut redis.client(), &commands, same);
    let got = common::replies(&mut node.client(), &commands, same);
    assert_eq!(got[450..], want[450..]);
}

#[test]
fn auto_ids_grow_and_streams_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let mut last = (0u64, 0u64);
    for i in 0..200 {
        let id: String = redis::cmd("XADD").arg("orders").arg("*").arg("n").arg(i).query(&mut conn).expect("xadd");
        let (ms, seq) = id.split_once('-').expect("ms-seq");
        let next = (ms.parse().expect("ms"), seq.parse().expect("seq"));
        assert!(next > last, "{id} after {last:?}");
        last = next;
    }
    let _: () = redis::cmd("XDEL").arg("orders").arg(format!("{}-{}", last.0, last.1)).query(&mut conn).expect("xdel");
    let before: Value = redis::cmd("XRANGE").arg("orders").arg("-").arg("+").query(&mut conn).expect("range");
    node.kill9();
    node = node.restart();
    let mut conn = node.client();
    let after: Value = redis::cmd("XRANGE").arg("orders").arg("-").arg("+").query(&mut conn).expect("range");
    assert_eq!(after, before);
    // The deleted top ID is not handed out again.
    let err = redis::cmd("XADD")
        .arg("orders")
        .arg(format!("{}-{}", last.0, last.1))
        .arg("f")
        .arg("v")
        .query::<String>(&mut conn);
    assert!(err.is_err());
}

/// XPENDING's extended form reports idle times, which differ between two
/// servers: zeroed before comparing.
fn mask_idle(line: String) -> String {
    if !line.starts_with("XPENDING") || line.contains("NOGROUP") {
        return line;
    }
    let mut out = String::new();
    let mut rest = line.as_str();
    // Entries look like: bulk-string('"1-1"'), bulk-string('"alice"'), int(12), int(1)
    while let Some(at) = rest.find("'), int(") {
        let (head, tail) = rest.split_at(at + "'), int(".len());
        out.push_str(head);
        let end = tail.find(')').unwrap_or(0);
        out.push('0');
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

const GROUPS: &[&str] = &[
    "XGROUP CREATE s g $",
    "XGROUP CREATE s g $ MKSTREAM",
    "XGROUP CREATE s g $",
    "XADD s 1-1 a 1",
    "XADD s 2-1 b 2",
    "XADD s 3-1 c 3",
    "XREADGROUP GROUP g alice COUNT 2 STREAMS s >",
    "XREADGROUP GROUP g bob STREAMS s >",
    "XREADGROUP GROUP g bob STREAMS s >",
    "XREADGROUP GROUP g alice STREAMS s 0",
    "XREADGROUP GROUP g alice COUNT 1 STREAMS s 1-1",
    "XPENDING s g",
    "XPENDING s g - + 10",
    "XPENDING s g - + 10 bob",
    "XPENDING s g - + 10 nobody",
    "XPENDING s g (1-1 + 1",
    "XPENDING s g IDLE 0 - + 10",
    "XPENDING s g - + x",
    "XPENDING s g - +",
    "XPENDING s nog",
    "XPENDING missing g",
    "XACK s g 1-1 9-9",
    "XACK s g bad",
    "XACK s nog 1-1",
    "XACK missing g 1-1",
    "XDEL s 2-1",
    "XREADGROUP GROUP g alice STREAMS s 0",
    "XPENDING s g",
    "XGROUP CREATECONSUMER s g carol",
    "XGROUP CREATECONSUMER s g carol",
    "XGROUP DELCONSUMER s g alice",
    "XGROUP DELCONSUMER s g nobody",
    "XPENDING s g",
    "XGROUP SETID s g 0",
    "XREADGROUP GROUP g carol NOACK STREAMS s >",
    "XPENDING s g",
    "XGROUP SETID s g -",
    "XGROUP SETID s g $ ENTRIESREAD 2",
    "XGROUP SETID s g 1-1 ENTRIESREAD -2",
    "XGROUP SETID s nog 0",
    "XGROUP DESTROY s g",
    "XGROUP DESTROY s g",
    "XGROUP FOO s g",
    "XGROUP CREATE s",
    "XGROUP CREATE s g2 0 FOO",
    "XGROUP CREATE s g2 0 ENTRIESREAD -5",
    "XGROUP CREATE s g2 bad",
    "XGROUP CREATE missing g 0",
    "XGROUP DESTROY missing g",
    "XGROUP CREATE s g2 0",
    "XREAD COUNT 1 STREAMS s 0",
    "XREAD STREAMS s $",
    "XREAD STREAMS s s 0 1-1",
    "XREAD STREAMS s t 0",
    "XREAD GROUP g c STREAMS s 0",
    "XREAD NOACK STREAMS s 0",
    "XREAD STREAMS s >",
    "XREAD FOO STREAMS s 0",
    "XREAD COUNT x STREAMS s 0",
    "XREAD BLOCK x STREAMS s 0",
    "XREAD BLOCK -1 STREAMS s 0",
    "XREAD BLOCK 10 STREAMS s 0",
    "XREADGROUP STREAMS s >",
    "XREADGROUP GROUP nog c STREAMS s >",
    "XREADGROUP GROUP g2 c STREAMS s $",
    "XREADGROUP GROUP g2 c STREAMS s bad",
    "XREADGROUP GROUP g2 c COUNT 1 STREAMS s >",
    "XREADGROUP GROUP g2 c BLOCK 10 STREAMS s >",
    "XREADGROUP GROUP g2 c BLOCK 10 STREAMS s >",
    "SET str x",
    "XREAD STREAMS str 0",
    "XGROUP CREATE str g 0",
    "XACK str g 1-1",
];

#[test]
fn consumer_group_replies_match_redis_server() {
    let redis = common::start_redis(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let want: Vec<String> = common::replies(&mut redis.client(), GROUPS, same).into_iter().map(mask_idle).collect();
    let got: Vec<String> = common::replies(&mut node.client(), GROUPS, same).into_iter().map(mask_idle).collect();
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w);
    }
    // RESP3: XREAD answers a map.
    let resp3 = |url: String| {
        redis::Client::open(format!("{url}/?protocol=resp3")).expect("url").get_connection().expect("connect")
    };
    let read = ["XREAD COUNT 2 STREAMS s 0"];
    let want = common::replies(&mut resp3(redis.url()), &read, same);
    let got = common::replies(&mut resp3(node.url()), &read, same);
    assert_eq!(got, want);
    assert!(got[0].contains("map("), "{}", got[0]);
}
