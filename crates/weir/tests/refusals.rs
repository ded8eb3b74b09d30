//! A write that is refused (wrong type, not a number, overflow, out of
//! range) changes nothing: not the value, and not what a WATCH sees; nor
//! does one that finds nothing to change. Each write runs between WATCH and
//! EXEC on weir and on redis-server; both must answer it the same way,
//! leave the same values, and then run or abort the transaction alike.

mod common;

use common::pair::{run, start_pair, Pair};

/// Keys of every type, all in one slot.
const SETUP: [&str; 9] = [
    "SET {t}str hello",
    "SET {t}num 9223372036854775807",
    "HSET {t}hash f v n 9223372036854775807 x abc",
    "SADD {t}set m",
    "RPUSH {t}list a b",
    "ZADD {t}zset 1 a",
    "XADD {t}stream 1-1 f v",
    "SET {t}float 1e308",
    "PFADD {t}hll a b c",
];

/// Writes each of which is refused against the keys above.
const REFUSED: &[&str] = &[
    "INCR {t}str",
    "INCR {t}num",
    "INCR {t}hash",
    "DECRBY {t}list 1",
    "INCRBYFLOAT {t}str 1",
    "INCRBYFLOAT {t}float abc",
    "PFADD {t}str x",
    "PFMERGE {t}hll {t}str",
    "PFADD {t}list x",
    "INCRBYFLOAT {t}set 1",
    "APPEND {t}list x",
    "SETRANGE {t}zset 0 x",
    "SETRANGE {t}str 536870912 x",
    "SETBIT {t}hash 1 1",
    "BITFIELD {t}set SET u8 0 1",
    "BITOP AND {t}str {t}list",
    "HSET {t}str f v",
    "HSETNX {t}list f v",
    "HINCRBY {t}hash x 1",
    "HINCRBY {t}hash n 1",
    "HINCRBYFLOAT {t}hash x 1",
    "HINCRBYFLOAT {t}str f 1",
    "HDEL {t}str f",
    "SADD {t}str m",
    "SREM {t}hash m",
    "SPOP {t}list",
    "SMOVE {t}str {t}set m",
    "SINTERSTORE {t}dst {t}str {t}set",
    "LPUSH {t}str x",
    "RPUSHX {t}hash x",
    "LPOP {t}set",
    "LSET {t}list 5 x",
    "LSET {t}str 0 x",
    "LINSERT {t}zset BEFORE a x",
    "LREM {t}hash 0 a",
    "LTRIM {t}str 0 1",
    "LMOVE {t}str {t}list LEFT LEFT",
    "RPOPLPUSH {t}list {t}str",
    "ZADD {t}str 1 a",
    "ZADD {t}zset NX XX 1 a",
    "ZINCRBY {t}list 1 a",
    "ZINCRBY {t}zset abc a",
    "ZREM {t}hash a",
    "ZPOPMIN {t}set",
    "ZREMRANGEBYSCORE {t}str 0 1",
    "ZUNIONSTORE {t}dst 2 {t}zset {t}str",
    "XADD {t}str * f v",
    "XADD {t}stream 1-1 f v",
    "XDEL {t}hash 1-1",
    "XTRIM {t}list MAXLEN 0",
    "XGROUP CREATE {t}str g $",
    "XSETID {t}stream 0-1",
    "EXPIRE {t}str abc",
    "RENAME {t}missing {t}other",
    "RENAMENX {t}missing {t}other",
    "EXPIRE {t}str 10 NX XX",
    "GETDEL {t}list",
    "GETEX {t}list EX 10",
    "GETSET {t}list x",
    "SETRANGE {t}str -1 x",
    "LPUSHX {t}str x",
    "LSET {t}missing 0 x",
    "LMOVE {t}list {t}str LEFT LEFT",
    "BLMOVE {t}list {t}str LEFT LEFT 0",
    "RPOPLPUSH {t}list {t}zset",
    "LMPOP 1 {t}str LEFT",
    "BLPOP {t}str 0",
    "SMOVE {t}set {t}str m",
    "SPOP {t}set -1",
    "ZADD {t}zset INCR abc a",
    "ZADD {t}zset GT LT 1 a",
    "ZADD {t}zset nan a",
    "ZMPOP 1 {t}str MIN",
    "BZPOPMIN {t}str 0",
    "ZRANGESTORE {t}dst {t}str 0 -1",
    "XADD {t}str NOMKSTREAM * f v",
    "XADD {t}stream MAXLEN abc * f v",
    "XTRIM {t}stream MAXLEN abc",
    "XACK {t}hash g 1-1",
    "XGROUP CREATECONSUMER {t}stream nogroup c",
    "XREADGROUP GROUP nogroup c STREAMS {t}stream >",
    "XCLAIM {t}stream nogroup c 0 1-1",
    "XAUTOCLAIM {t}stream nogroup c 0 0",
];

/// Writes that find nothing to change, or write what is there already:
/// Redis counts some as changes (HSET of the same value, LSET, EXPIRE) and
/// most not; weir must agree on each.
const UNCHANGED: &[&str] = &[
    "SREM {t}set nosuch",
    "HDEL {t}hash nosuch",
    "LREM {t}list 0 nosuch",
    "ZREM {t}zset nosuch",
    "PERSIST {t}str",
    "SETNX {t}str x",
    "SET {t}str x NX",
    "HSETNX {t}hash f x",
    "LPUSHX {t}missing x",
    "XDEL {t}stream 9-9",
    "XTRIM {t}stream MAXLEN 100",
    "LTRIM {t}list 0 -1",
    "ZADD {t}zset XX 1 nosuch",
    "ZADD {t}zset NX 5 a",
    "ZADD {t}zset 1 a",
    "SADD {t}set m",
    "SMOVE {t}set {t}set2 nosuch",
    "EXPIRE {t}missing 10",
    "DEL {t}missing",
    "ZREMRANGEBYSCORE {t}zset 5 6",
    "ZREMRANGEBYRANK {t}zset 5 6",
    "SPOP {t}missing",
    "LPOP {t}missing",
    "RPOP {t}list 0",
    "GETEX {t}str",
    "SETBIT {t}str 1 1",
    "BITFIELD {t}str GET u8 0",
    "XGROUP DELCONSUMER {t}stream nogroup c",
    "XACK {t}stream g 1-1",
    "HSET {t}hash f v",
    "LSET {t}list 0 a",
    "EXPIRE {t}str 100 XX",
    "RENAME {t}str {t}str",
    "BITOP AND {t}missing {t}missing",
    "PFADD {t}hll a",
    "PFADD {t}hll",
];

#[test]
fn writes_that_change_nothing_leave_a_watch_alone_as_on_redis() {
    let Pair { weir, redis, .. } = &start_pair();
    let (mut ours, mut theirs) = (weir.client(), redis.client());
    let differences = compare(&mut ours, &mut theirs, UNCHANGED, |_, _| {});
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}

#[test]
fn refused_writes_change_nothing_a_watch_sees() {
    let Pair { weir, redis, .. } = &start_pair();
    let (mut ours, mut theirs) = (weir.client(), redis.client());
    let differences = compare(&mut ours, &mut theirs, REFUSED, |line, replies| {
        assert!(replies[1].starts_with("error"), "`{line}` is refused by redis-server: {}", replies[1]);
        assert!(replies[4].contains("PONG"), "`{line}` touched a watched key on redis-server: {}", replies[4]);
    });
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
    eprintln!("{} refused writes compared", REFUSED.len());
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// Runs each line between WATCH (of every key of `SETUP`) and a
/// MULTI/PING/EXEC on both servers, from the same keys each time; returns
/// every reply or key that differs. `check` sees redis-server's replies.
fn compare(
    ours: &mut redis::Connection,
    theirs: &mut redis::Connection,
    lines: &[&str],
    check: impl Fn(&str, &[String]),
) -> Vec<String> {
    let keys: Vec<String> = SETUP.iter().map(|line| words(line)[1].clone()).collect();
    let mut differences = Vec::new();
    for line in lines {
        for conn in [&mut *ours, &mut *theirs] {
            run(conn, &words("FLUSHALL"));
            for setup in SETUP {
                run(conn, &words(setup));
            }
        }
        let transaction =
            [format!("WATCH {}", keys.join(" ")), line.to_string(), "MULTI".into(), "PING".into(), "EXEC".into()];
        let mut replies = Vec::new();
        for step in &transaction {
            let (a, b) = (run(ours, &words(step)), run(theirs, &words(step)));
            if a != b {
                differences.push(format!("`{step}` after `{line}`: weir {a}, redis {b}"));
            }
            replies.push(b);
        }
        check(line, &replies);
        for key in &keys {
            let (a, b) = (contents(ours, key), contents(theirs, key));
            if a != b {
                differences.push(format!("{key} after `{line}`: weir {a}, redis {b}"));
            }
        }
    }
    differences
}

/// A key's type and whole value, as text.
fn contents(conn: &mut redis::Connection, key: &str) -> String {
    let kind = run(conn, &["TYPE".into(), key.into()]);
    let read = match kind.as_str() {
        k if k.contains("string") => format!("GET {key}"),
        k if k.contains("hash") => format!("HGETALL {key}"),
        k if k.contains("set") && !k.contains("zset") => format!("SMEMBERS {key}"),
        k if k.contains("list") => format!("LRANGE {key} 0 -1"),
        k if k.contains("zset") => format!("ZRANGE {key} 0 -1 WITHSCORES"),
        k if k.contains("stream") => format!("XRANGE {key} - +"),
        _ => return kind,
    };
    format!("{kind}: {}", run(conn, &words(&read)))
}
