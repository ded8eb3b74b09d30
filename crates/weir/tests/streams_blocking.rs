//! Blocking stream reads: XREAD BLOCK (`$` and explicit IDs) and
//! XREADGROUP BLOCK wake within milliseconds of a matching XADD, time out
//! with a null reply, and never hold their partition up.

mod common;

use redis::Value;
use std::time::{Duration, Instant};

fn spawn_read(url: String, args: &'static [&'static str]) -> std::thread::JoinHandle<(Value, Duration)> {
    std::thread::spawn(move || {
        let mut conn = redis::Client::open(url).expect("client").get_connection().expect("connect");
        let started = Instant::now();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let reply: Value = cmd.query(&mut conn).expect("blocking read");
        (reply, started.elapsed())
    })
}

/// The entry IDs in an XREAD / XREADGROUP reply.
fn ids(reply: &Value) -> Vec<String> {
    let text = format!("{reply:?}");
    text.split("bulk-string('\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|s| s.contains('-'))
        .map(String::from)
        .collect()
}

fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn xread_block_wakes_every_reader_and_times_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let _: String = redis::cmd("XADD").arg("s").arg("1-1").arg("old").arg("x").query(&mut conn).expect("xadd");
    let dollar = spawn_read(node.url(), &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    let explicit = spawn_read(node.url(), &["XREAD", "BLOCK", "5000", "STREAMS", "s", "1-1"]);
    settle();
    // The partition keeps serving while they wait.
    let len: i64 = redis::cmd("XLEN").arg("s").query(&mut conn).expect("xlen");
    assert_eq!(len, 1);
    let added = Instant::now();
    let _: String = redis::cmd("XADD").arg("s").arg("2-1").arg("new").arg("y").query(&mut conn).expect("xadd");
    for reader in [dollar, explicit] {
        let (reply, _) = reader.join().expect("reader");
        assert_eq!(ids(&reply), vec!["2-1"], "{reply:?}");
    }
    assert!(added.elapsed() < Duration::from_secs(2), "woken promptly");
    // Nothing new: a null reply after the timeout.
    let (reply, waited) =
        spawn_read(node.url(), &["XREAD", "BLOCK", "200", "STREAMS", "s", "$"]).join().expect("reader");
    assert_eq!(reply, Value::Nil);
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
}

#[test]
fn xreadgroup_block_hands_each_entry_to_one_consumer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let _: () =
        redis::cmd("XGROUP").arg("CREATE").arg("q").arg("g").arg("$").arg("MKSTREAM").query(&mut conn).expect("group");
    let a = spawn_read(node.url(), &["XREADGROUP", "GROUP", "g", "a", "BLOCK", "3000", "STREAMS", "q", ">"]);
    let b = spawn_read(node.url(), &["XREADGROUP", "GROUP", "g", "b", "BLOCK", "3000", "STREAMS", "q", ">"]);
    settle();
    let _: String = redis::cmd("XADD").arg("q").arg("5-1").arg("job").arg("1").query(&mut conn).expect("xadd");
    let (first, second) = (a.join().expect("a"), b.join().expect("b"));
    let got: Vec<Vec<String>> = vec![ids(&first.0), ids(&second.0)];
    assert!(got.contains(&vec!["5-1".to_string()]), "{got:?}");
    assert!(got.contains(&vec![]), "the other consumer timed out empty: {got:?}");
    let pending: Value = redis::cmd("XPENDING").arg("q").arg("g").query(&mut conn).expect("xpending");
    assert!(format!("{pending:?}").starts_with("array([int(1)"), "{pending:?}");
    // A destroyed group answers its blocked readers with NOGROUP.
    let url = node.url();
    let waiting = std::thread::spawn(move || {
        let mut conn = redis::Client::open(url).expect("client").get_connection().expect("connect");
        redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("a")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg("q")
            .arg(">")
            .query::<Value>(&mut conn)
    });
    settle();
    let _: i64 = redis::cmd("XGROUP").arg("DESTROY").arg("q").arg("g").query(&mut conn).expect("destroy");
    let err = waiting.join().expect("waiter").unwrap_err();
    assert_eq!(err.code(), Some("NOGROUP"), "{err}");
}

#[test]
fn pending_entries_and_waiting_readers_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let _: () =
        redis::cmd("XGROUP").arg("CREATE").arg("q").arg("g").arg("$").arg("MKSTREAM").query(&mut conn).expect("group");
    for i in 1..=3 {
        let _: String =
            redis::cmd("XADD").arg("q").arg(format!("{i}-1")).arg("f").arg("v").query(&mut conn).expect("xadd");
    }
    let _: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("STREAMS")
        .arg("q")
        .arg(">")
        .query(&mut conn)
        .expect("read");
    let _: i64 = redis::cmd("XACK").arg("q").arg("g").arg("1-1").query(&mut conn).expect("ack");
    let waiting = spawn_read(node.url(), &["XREAD", "BLOCK", "1500", "STREAMS", "q", "$"]);
    settle();
    let info: String = redis::cmd("INFO").query(&mut conn).expect("info");
    assert!(info.contains("stream_pending_entries:2\r\n"), "{info}");
    assert!(info.contains("blocked_clients:1\r\n"), "{info}");
    let (_, metrics) = common::http(node.http, "GET", "/metrics", &[], "");
    assert!(metrics.contains("weir_stream_pending_entries 2"), "{metrics}");
    assert!(metrics.contains("weir_blocked_clients 1"), "{metrics}");
    waiting.join().expect("reader");
}
