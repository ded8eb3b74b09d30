//! Blocking pops through a real client: wake-ups on push, FIFO order among
//! clients blocked on one key, timeouts, clients that leave while blocked,
//! and a blocked client never holding up its partition.

mod common;

use redis::{Commands, Value};
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

/// Waits until INFO reports `n` blocked clients.
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    wait_info(c, &format!("blocked_clients:{n}\r"));
}

/// Polls INFO clients until it shows `line`.
fn wait_info(c: &mut redis::Connection, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(c).expect("info");
        if info.contains(line) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw {line:?}:\n{info}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_push_wakes_blocked_clients_in_arrival_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let mut waiters = Vec::new();
    for i in 0..3 {
        let mut conn = node.client();
        waiters.push(thread::spawn(move || {
            let got: (String, String) = redis::cmd("BLPOP").arg("queue").arg(10).query(&mut conn).expect("blpop");
            got.1
        }));
        wait_blocked(&mut c, i + 1);
    }
    let started = Instant::now();
    let _: i64 = c.rpush("queue", &["first", "second", "third"]).expect("rpush");
    let got: Vec<String> = waiters.into_iter().map(|w| w.join().expect("waiter")).collect();
    assert_eq!(got, vec!["first", "second", "third"], "FIFO among clients blocked on one key");
    assert!(started.elapsed() < Duration::from_secs(2), "woken promptly: {:?}", started.elapsed());
    let len: i64 = c.llen("queue").expect("llen");
    assert_eq!(len, 0);
    wait_blocked(&mut c, 0);
}

#[test]
fn timeouts_answer_nil_and_blocked_clients_do_not_block_the_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let mut blocked = node.client();
    let waiter = thread::spawn(move || {
        let started = Instant::now();
        let got: Option<(String, String)> =
            redis::cmd("BRPOP").arg("{p}q").arg(0.3).query(&mut blocked).expect("brpop");
        (got, started.elapsed())
    });
    wait_blocked(&mut c, 1);
    // Same slot as the blocked key: still served at once.
    let started = Instant::now();
    for i in 0..50 {
        let _: i64 = c.incr("{p}counter", 1).expect("incr");
        let _: () = c.set(format!("{{p}}k{i}"), i).expect("set");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "the partition kept serving: {:?}", started.elapsed());
    let (got, waited) = waiter.join().expect("waiter");
    assert_eq!(got, None);
    assert!(waited >= Duration::from_millis(280), "waited {waited:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
}

#[test]
fn every_blocking_command_wakes_on_its_push() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let cases: [(&[&str], &[&str], Value); 5] = [
        (
            &["BLMOVE", "{b}src", "{b}dst", "LEFT", "RIGHT", "5"],
            &["RPUSH", "{b}src", "x"],
            Value::BulkString(b"x".to_vec()),
        ),
        (&["BRPOPLPUSH", "{b}src", "{b}dst", "5"], &["LPUSH", "{b}src", "y"], Value::BulkString(b"y".to_vec())),
        (
            &["BLMPOP", "5", "2", "{b}l1", "{b}l2", "LEFT", "COUNT", "2"],
            &["RPUSH", "{b}l2", "a", "b", "c"],
            Value::Array(vec![
                Value::BulkString(b"{b}l2".to_vec()),
                Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::BulkString(b"b".to_vec())]),
            ]),
        ),
        (
            &["BZPOPMIN", "{b}z", "5"],
            &["ZADD", "{b}z", "2", "m2", "1", "m1"],
            Value::Array(vec![
                Value::BulkString(b"{b}z".to_vec()),
                Value::BulkString(b"m1".to_vec()),
                Value::BulkString(b"1".to_vec()),
            ]),
        ),
        (
            &["BZMPOP", "5", "1", "{b}z2", "MAX"],
            &["ZINCRBY", "{b}z2", "3", "m"],
            Value::Array(vec![
                Value::BulkString(b"{b}z2".to_vec()),
                Value::Array(vec![Value::Array(vec![
                    Value::BulkString(b"m".to_vec()),
                    Value::BulkString(b"3".to_vec()),
                ])]),
            ]),
        ),
    ];
    for (block, push, expected) in cases {
        let mut conn = node.client();
        let args: Vec<String> = block.iter().map(|s| s.to_string()).collect();
        let waiter = thread::spawn(move || {
            let mut cmd = redis::cmd(&args[0]);
            cmd.arg(&args[1..]);
            cmd.query::<Value>(&mut conn).expect("blocking command")
        });
        wait_blocked(&mut c, 1);
        let mut cmd = redis::cmd(push[0]);
        cmd.arg(&push[1..]);
        let _: Value = cmd.query(&mut c).expect("push");
        assert_eq!(waiter.join().expect("waiter"), expected, "{block:?}");
        wait_blocked(&mut c, 0);
    }
    let moved: Vec<String> = c.lrange("{b}dst", 0, -1).expect("lrange");
    assert_eq!(moved, vec!["y", "x"], "BLMOVE appended x; BRPOPLPUSH prepended y");
}

#[test]
fn a_client_gone_while_blocked_takes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let mut raw = std::net::TcpStream::connect(node.addr).expect("connect");
    raw.write_all(b"*3\r\n$5\r\nBLPOP\r\n$4\r\ngone\r\n$1\r\n0\r\n").expect("send");
    wait_blocked(&mut c, 1);
    drop(raw);
    // The server notices the hang-up while the client waits, and forgets it.
    wait_info(&mut c, "connected_clients:1\r");
    let _: i64 = c.rpush("gone", "kept").expect("rpush");
    // The push's wake-up (had it run the departed client's pop) is applied
    // before a later write of this connection.
    let _: i64 = c.rpush("other", "x").expect("rpush");
    let left: Vec<String> = c.lrange("gone", 0, -1).expect("lrange");
    assert_eq!(left, vec!["kept"], "the departed client's pop must not run");
    wait_blocked(&mut c, 0);
}

#[test]
fn inside_multi_blocking_commands_do_not_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let (popped, pushed): (Option<(String, String)>, i64) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("tx")
        .arg(0)
        .cmd("RPUSH")
        .arg("tx")
        .arg("v")
        .query(&mut c)
        .expect("exec");
    assert_eq!((popped, pushed), (None, 1));
    let err = redis::cmd("BLPOP").arg("tx").arg(-1).query::<Value>(&mut c).unwrap_err();
    assert!(err.to_string().contains("timeout is negative"), "{err}");
}
