//! XCLAIM, XAUTOCLAIM and XINFO against a live redis-server, reply for
//! reply; times (idle, seen and delivery times) and Redis's radix-tree
//! layout figures are zeroed before comparing.

mod common;

use redis::Value;

const MASKED: &[&str] = &["idle", "seen-time", "radix-tree-keys", "radix-tree-nodes"];

fn is_id(v: &Value) -> bool {
    matches!(v, Value::BulkString(b) if b.contains(&b'-'))
}

fn normalize(v: Value) -> Value {
    match v {
        Value::Int(n) if n >= 1_000_000_000_000 => Value::Int(0),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(normalize).collect();
            for i in 0..items.len().saturating_sub(1) {
                if matches!(&items[i], Value::BulkString(k) if MASKED.iter().any(|m| m.as_bytes() == k.as_slice())) {
                    items[i + 1] = Value::Int(0);
                }
            }
            // XPENDING's extended entries: [id, consumer, idle, deliveries].
            if items.len() == 4 && is_id(&items[0]) && matches!(items[1], Value::BulkString(_)) {
                if let Value::Int(_) = items[2] {
                    items[2] = Value::Int(0);
                }
            }
            Value::Array(items)
        }
        Value::Map(pairs) => Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let masked =
                        matches!(&k, Value::BulkString(b) if MASKED.iter().any(|m| m.as_bytes() == b.as_slice()));
                    (k, if masked { Value::Int(0) } else { normalize(v) })
                })
                .collect(),
        ),
        other => other,
    }
}

const SEQUENCE: &[&str] = &[
    "XGROUP CREATE s g 0 MKSTREAM",
    "XADD s 1-1 a 1",
    "XADD s 2-1 b 2",
    "XADD s 3-1 c 3",
    "XADD s 4-1 d 4",
    "XREADGROUP GROUP g alice STREAMS s >",
    "XCLAIM s g bob 3600000 1-1",
    "XCLAIM s g bob 0 1-1 2-1",
    "XCLAIM s g bob 0 1-1 JUSTID",
    "XPENDING s g - + 10",
    "XCLAIM s g carol 0 3-1 RETRYCOUNT 7 IDLE 1000",
    "XCLAIM s g carol 0 4-1 TIME 5 JUSTID",
    "XCLAIM s g carol 0 9-9",
    "XCLAIM s g carol 0 9-9 FORCE",
    "XDEL s 4-1",
    "XCLAIM s g dave 0 4-1",
    "XPENDING s g",
    "XCLAIM s g dave 0 1-1 FORCE LASTID 10-0",
    "XINFO GROUPS s",
    "XCLAIM s g dave x 1-1",
    "XCLAIM s g dave 0 1-1 BOGUS",
    "XCLAIM s g dave 0 1-1 IDLE x",
    "XCLAIM s g dave 0 1-1 RETRYCOUNT x",
    "XCLAIM s g dave 0 1-1 LASTID bad",
    "XCLAIM s nog dave 0 1-1",
    "XCLAIM missing g dave 0 1-1",
    "XGROUP SETID s g 0",
    "XADD s 5-1 e 5",
    "XREADGROUP GROUP g erin STREAMS s >",
    "XDEL s 2-1",
    "XAUTOCLAIM s g frank 0 0 COUNT 2",
    "XAUTOCLAIM s g frank 0 0",
    "XAUTOCLAIM s g gina 0 (1-1 COUNT 1 JUSTID",
    "XAUTOCLAIM s g gina 3600000 0",
    "XAUTOCLAIM s g gina 0 - COUNT 0",
    "XAUTOCLAIM s g gina 0 - COUNT x",
    "XAUTOCLAIM s g gina x -",
    "XAUTOCLAIM s g gina 0 bad",
    "XAUTOCLAIM s g gina 0 - BOGUS",
    "XAUTOCLAIM s nog gina 0 -",
    "XPENDING s g",
    "XINFO CONSUMERS s g",
    "XINFO CONSUMERS s nog",
    "XINFO GROUPS s",
    "XINFO STREAM s",
    "XINFO STREAM s FULL",
    "XINFO STREAM s FULL COUNT 1",
    "XINFO STREAM s FULL COUNT 0",
    "XINFO STREAM s FULL BOGUS",
    "XINFO STREAM s FULL COUNT x",
    "XINFO STREAM missing",
    "XINFO GROUPS missing",
    "XINFO FOO s",
    "XINFO GROUPS",
    "XINFO HELP x",
    "XGROUP DESTROY s",
    "XGROUP HELP x",
    "XGROUP CREATE empty g $ MKSTREAM",
    "XINFO STREAM empty",
    "XINFO GROUPS empty",
    "SET str x",
    "XINFO STREAM str",
    "XCLAIM str g c 0 1-1",
];

#[test]
fn claims_and_info_match_redis_server() {
    let redis = common::start_redis(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let want = common::replies(&mut redis.client(), SEQUENCE, normalize);
    let got = common::replies(&mut node.client(), SEQUENCE, normalize);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w);
    }
}
