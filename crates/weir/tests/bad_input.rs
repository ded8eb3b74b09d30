//! Malformed RESP gets Redis's protocol error and a closed connection; the
//! server stays up and other clients are unaffected.

mod common;

use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `input`, returns everything the server wrote before closing.
fn exchange(addr: std::net::SocketAddr, input: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // The server may close while we are still writing: that is the point.
    let _ = stream.write_all(input);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_requests_get_protocol_errors_and_a_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--max-bulk-len", "1024"]);
    let mut bystander = node.client();
    let _: () = redis::cmd("SET").arg("bystander").arg("1").query(&mut bystander).expect("set");

    let mut long_count = b"*1".to_vec();
    long_count.extend(vec![b'9'; 70 * 1024]);
    let long_inline = vec![b'a'; 70 * 1024];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad type byte", b"*1\r\n+PING\r\n".to_vec(), "-ERR Protocol error: expected '$', got '+'"),
        ("bad multibulk length", b"*abc\r\n".to_vec(), "-ERR Protocol error: invalid multibulk length"),
        ("huge multibulk length", b"*999999999\r\n".to_vec(), "-ERR Protocol error: invalid multibulk length"),
        ("negative bulk length", b"*1\r\n$-5\r\n".to_vec(), "-ERR Protocol error: invalid bulk length"),
        ("huge bulk length", b"*1\r\n$99999999999999\r\n".to_vec(), "-ERR Protocol error: invalid bulk length"),
        ("bulk over the limit", b"*2\r\n$3\r\nSET\r\n$2048\r\n".to_vec(), "-ERR Protocol error: invalid bulk length"),
        ("unterminated count line", long_count, "-ERR Protocol error: too big mbulk count string"),
        ("unterminated inline", long_inline, "-ERR Protocol error: too big inline request"),
        ("unbalanced quotes", b"SET \"a b\r\n".to_vec(), "-ERR Protocol error: unbalanced quotes in request"),
    ];
    for (name, input, expected) in cases {
        let reply = exchange(node.addr, &input);
        assert!(reply.starts_with(expected), "{name}: got {reply:?}");
        assert!(
            reply.ends_with("\r\n") && reply.matches("\r\n").count() == 1,
            "{name}: the connection must close after the error: {reply:?}"
        );
    }

    // Binary garbage: whatever it parses as, the server answers or closes,
    // and keeps serving everyone else.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..50 {
        let len = rng.gen_range(1..4096);
        let garbage: Vec<u8> = (0..len).map(|_| rng.gen()).chain(std::iter::once(b'\n')).collect();
        let _ = exchange(node.addr, &garbage);
    }
    let value: String = redis::cmd("GET").arg("bystander").query(&mut bystander).expect("bystander still served");
    assert_eq!(value, "1");
    assert!(common::ping(node.addr), "the server stays up");
}

#[test]
fn inline_commands_and_deep_pipelines_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let reply = exchange(node.addr, b"PING\r\nSET k \"hello world\"\nGET k\r\nQUIT\r\n");
    assert_eq!(reply, "+PONG\r\n+OK\r\n$11\r\nhello world\r\n+OK\r\n");
    let mut pipeline = Vec::new();
    for i in 0..10_000 {
        pipeline.extend_from_slice(format!("*2\r\n$4\r\nINCR\r\n$3\r\nc:{}\r\n", i % 7).as_bytes());
    }
    pipeline.extend_from_slice(b"QUIT\r\n");
    let reply = exchange(node.addr, &pipeline);
    assert_eq!(reply.matches("\r\n").count(), 10_001);
    let mut conn = node.client();
    let total: i64 =
        (0..7).map(|i| redis::cmd("GET").arg(format!("c:{i}")).query::<i64>(&mut conn).expect("get")).sum();
    assert_eq!(total, 10_000);
}

#[test]
fn unauthenticated_clients_may_only_send_small_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--requirepass", "s3cret"]);
    assert_eq!(exchange(node.addr, b"GET k\r\nQUIT\r\n"), "-NOAUTH Authentication required.\r\n+OK\r\n");
    let many = b"*11\r\n";
    assert_eq!(exchange(node.addr, many), "-ERR Protocol error: unauthenticated multibulk length\r\n");
    let big = b"*2\r\n$4\r\nAUTH\r\n$20000\r\n";
    assert_eq!(exchange(node.addr, big), "-ERR Protocol error: unauthenticated bulk length\r\n");
    assert_eq!(
        exchange(node.addr, b"AUTH wrong\r\nQUIT\r\n"),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n"
    );
    assert_eq!(exchange(node.addr, b"AUTH s3cret\r\nSET k v\r\nQUIT\r\n"), "+OK\r\n+OK\r\n+OK\r\n");
    let (status, _) = common::http(node.http, "POST", "/v1/command", &[], "[\"GET\",\"k\"]");
    assert_eq!(status, 401);
    let (status, body) =
        common::http(node.http, "POST", "/v1/command", &[("Authorization", "Bearer s3cret")], "[\"GET\",\"k\"]");
    assert_eq!((status, body.as_str()), (200, "{\"result\":\"v\"}"));
}

/// A client that sends requests but never reads its replies is
/// disconnected after the stall timeout (its replies would otherwise pile
/// up in memory); everyone else is served meanwhile.
#[test]
fn a_client_that_stops_reading_is_disconnected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--output-stall-secs", "1"]);
    let mut conn = node.client();
    let _: () = redis::cmd("SET").arg("big").arg(vec![b'x'; 1 << 20]).query(&mut conn).expect("set");
    let mut reader = TcpStream::connect(node.addr).expect("connect");
    // 64 MiB of replies: far more than the socket buffers hold.
    let requests = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(64);
    reader.write_all(&requests).expect("requests sent");
    let overflows = |conn: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").query(conn).expect("info");
        let line = info.lines().find(|l| l.starts_with("weir_output_overflows:")).expect("the counter");
        line.split(':').nth(1).and_then(|n| n.trim().parse().ok()).expect("a number")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while overflows(&mut conn) == 0 {
        assert!(std::time::Instant::now() < deadline, "the stalled client was never disconnected");
        let pong: String = redis::cmd("PING").query(&mut conn).expect("others are served meanwhile");
        assert_eq!(pong, "PONG");
        std::thread::sleep(Duration::from_millis(100));
    }
    // What it had not read ends; the connection is closed.
    reader.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut sink = Vec::new();
    let _ = reader.read_to_end(&mut sink);
    assert!(sink.len() < 64 << 20, "not every reply was written: {} bytes", sink.len());
}
