//! Pub/Sub through real clients: one script of subscribes, publishes and
//! messages, on raw connections so every frame is seen, run on weir and on
//! a redis-server cluster of one and compared frame for frame; then the
//! `redis` crate's PubSub client; then a subscriber that stops reading.

mod common;

use redis::Value;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A raw RESP connection: sends a command, reads as many frames as asked.
struct Raw {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    parser: redis::Parser,
}

impl Raw {
    fn open(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Raw { writer: stream.try_clone().expect("clone"), reader: BufReader::new(stream), parser: redis::Parser::new() }
    }

    /// Sends `line` and renders the `frames` that answer it.
    fn call(&mut self, line: &str, frames: usize) -> Vec<String> {
        let args: Vec<&str> = line.split_whitespace().collect();
        let mut out = format!("*{}\r\n", args.len());
        for arg in &args {
            out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.writer.write_all(out.as_bytes()).expect("send");
        let mut seen = vec![format!("> {line}")];
        // Channel lists come in a hash order: compared as sets.
        let listing = line.starts_with("PUBSUB CHANNELS") || line.starts_with("PUBSUB SHARDCHANNELS");
        seen.extend((0..frames).map(|_| match listing {
            true => self.listing(),
            false => self.frame(),
        }));
        seen
    }

    fn frame(&mut self) -> String {
        match self.parser.parse_value(&mut self.reader) {
            Ok(value) => format!("{value:?}"),
            Err(e) => format!("error {e}"),
        }
    }

    /// A list of names, sorted.
    fn listing(&mut self) -> String {
        match self.parser.parse_value(&mut self.reader) {
            Ok(Value::Array(items)) => {
                let mut names: Vec<String> = items.iter().map(|v| format!("{v:?}")).collect();
                names.sort();
                format!("sorted {names:?}")
            }
            other => format!("{other:?}"),
        }
    }
}

/// The same script against one server: what each connection saw.
fn script(addr: SocketAddr) -> Vec<String> {
    let (mut a, mut b, mut c) = (Raw::open(addr), Raw::open(addr), Raw::open(addr));
    let mut seen = Vec::new();
    for line in ["UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "SUBSCRIBE", "PUBLISH c1", "PUBSUB"] {
        seen.extend(a.call(line, 1));
    }
    seen.extend(a.call("SUBSCRIBE c1 c2 c1", 3));
    for line in ["PSUBSCRIBE c*", "SSUBSCRIBE s1", "SSUBSCRIBE {a}1 {b}2", "GET x", "PING", "PING hi", "PUBSUB NUMPAT"]
    {
        seen.extend(a.call(line, 1));
    }
    seen.extend(a.call("PSUBSCRIBE d? e*", 2));
    for line in [
        "PUBLISH c1 hello",
        "SPUBLISH s1 x",
        "PUBLISH nobody m",
        "PUBLISH dz m2",
        "PUBSUB CHANNELS",
        "PUBSUB CHANNELS c?",
        "PUBSUB NUMSUB c1 zz",
        "PUBSUB NUMPAT",
        "PUBSUB SHARDCHANNELS",
        "PUBSUB SHARDNUMSUB s1 s2",
        "PUBSUB NOPE",
        "INFO stats",
    ] {
        let reply = b.call(line, 1);
        if line == "INFO stats" {
            let info = reply.join("\n");
            for field in ["pubsub_channels:2", "pubsub_patterns:3", "pubsubshard_channels:1"] {
                assert!(info.contains(field), "{field} in {info}");
            }
            continue;
        }
        seen.extend(reply);
    }
    seen.push("messages".into());
    seen.extend((0..4).map(|_| a.frame()));
    for line in ["UNSUBSCRIBE c2", "PUNSUBSCRIBE c*", "UNSUBSCRIBE", "SUNSUBSCRIBE nope"] {
        seen.extend(a.call(line, 1));
    }
    seen.extend(a.call("PUNSUBSCRIBE d? e*", 2));
    seen.extend(a.call("SUNSUBSCRIBE", 1));
    seen.extend(a.call("GET x", 1));
    // RESP3: pushes, and any command while subscribed.
    c.call("HELLO 3", 1);
    for line in ["SUBSCRIBE c1", "GET x", "PING"] {
        seen.extend(c.call(line, 1));
    }
    seen.extend(b.call("PUBLISH c1 z", 1));
    seen.push(c.frame());
    // Queued publishes go out at EXEC, after the writes; none if it aborts.
    for line in ["MULTI", "SET {s1}k v", "PUBLISH c1 queued", "SPUBLISH s1 shard", "PING", "EXEC", "WATCH {s1}k"] {
        seen.extend(b.call(line, 1));
    }
    seen.push(c.frame());
    seen.extend(a.call("SET {s1}k w", 1));
    for line in ["MULTI", "PUBLISH c1 lost", "EXEC", "MULTI", "SET x 1", "SPUBLISH s1 y", "EXEC", "PUBLISH c1 after"] {
        seen.extend(b.call(line, 1));
    }
    seen.push(c.frame());
    seen.extend(c.call("RESET", 1));
    seen.extend(b.call("PUBSUB NUMSUB c1", 1));
    seen
}

#[test]
fn pubsub_frames_match_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let redis = common::redis_cluster_of_one();
    let (ours, theirs) = (script(node.addr), script(redis.addr));
    assert_eq!(ours.len(), theirs.len());
    for (have, want) in ours.iter().zip(&theirs) {
        assert_eq!(have, want, "\nweir:  {ours:#?}");
    }
}

#[test]
fn a_pubsub_client_receives_every_message_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut subscriber = node.client();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("likes:post:7").expect("subscribe");
    pubsub.psubscribe("likes:*").expect("psubscribe");
    pubsub.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut publisher = node.client();
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut publisher).expect("client list");
    let line = clients.lines().find(|l| l.contains("flags=P")).expect("the subscriber is listed as one");
    assert!(line.contains(" sub=1 psub=1 ssub=0 "), "{line}");
    for i in 0..1000 {
        let receivers: i64 = redis::cmd("PUBLISH").arg("likes:post:7").arg(i).query(&mut publisher).expect("publish");
        assert_eq!(receivers, 2, "the channel and the pattern");
    }
    let (mut direct, mut matched) = (Vec::new(), Vec::new());
    while direct.len() + matched.len() < 2000 {
        let message = pubsub.get_message().expect("a message");
        let payload: i64 = message.get_payload().expect("a number");
        match message.from_pattern() {
            true => matched.push(payload),
            false => direct.push(payload),
        }
    }
    assert_eq!(direct, (0..1000).collect::<Vec<i64>>());
    assert_eq!(matched, direct);
}

#[test]
fn a_subscription_over_http_ends_with_its_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let (status, body) = common::http(node.http, "POST", "/v1/command", &[], r#"["SUBSCRIBE","alerts","news"]"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alerts") && body.contains("news"), "the confirmations: {body}");
    let mut c = node.client();
    let counts: Vec<Value> = redis::cmd("PUBSUB").arg("NUMSUB").arg("alerts").query(&mut c).expect("numsub");
    assert_eq!(counts[1], Value::Int(0), "nothing left subscribed");
    let receivers: i64 = redis::cmd("PUBLISH").arg("alerts").arg("x").query(&mut c).expect("publish");
    assert_eq!(receivers, 0);
}

#[test]
fn a_subscriber_that_stops_reading_is_cut_off_not_buffered_without_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--output-stall-secs", "1"]);
    let mut idle = Raw::open(node.addr);
    assert_eq!(idle.call("SUBSCRIBE feed", 1).len(), 2);
    let mut publisher = node.client();
    let payload = vec![b'x'; 1 << 20];
    // 48 MiB: past the 32 MiB mailbox and any socket buffer.
    for _ in 0..48 {
        let _: i64 = redis::cmd("PUBLISH").arg("feed").arg(&payload).query(&mut publisher).expect("publish");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Vec<Value> = redis::cmd("PUBSUB").arg("NUMSUB").arg("feed").query(&mut publisher).expect("numsub");
        if counts.get(1) == Some(&Value::Int(0)) {
            break;
        }
        assert!(Instant::now() < deadline, "the stalled subscriber was disconnected");
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: String = redis::cmd("PING").query(&mut publisher).expect("the node serves on");
    assert_eq!(alive, "PONG");
}
