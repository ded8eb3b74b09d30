//! The node through a real client: transactions, CROSSSLOT, expiry,
//! persistence across restarts, introspection, and the HTTP front end.

mod common;

use redis::Commands;
use std::time::Duration;

#[test]
fn transactions_are_atomic_single_slot_and_watched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCRBY")
        .arg("{acct}:alice")
        .arg(10)
        .cmd("DECRBY")
        .arg("{acct}:bob")
        .arg(10)
        .query(&mut c)
        .expect("exec");
    assert_eq!((a, b), (10, -10));

    let crossslot: redis::RedisResult<()> = redis::cmd("MSET").arg("x").arg(1).arg("y").arg(2).query(&mut c);
    let err = crossslot.unwrap_err();
    assert_eq!(err.kind(), redis::ErrorKind::CrossSlot, "{err}");

    // WATCH: a concurrent change aborts EXEC (nil reply).
    let mut other = node.client();
    let _: () = redis::cmd("WATCH").arg("{acct}:alice").query(&mut c).expect("watch");
    let _: () = other.set("{acct}:alice", 99).expect("concurrent write");
    let _: () = redis::cmd("MULTI").query(&mut c).expect("multi");
    let queued: String = redis::cmd("INCR").arg("{acct}:alice").query(&mut c).expect("queued");
    assert_eq!(queued, "QUEUED");
    let aborted: Option<Vec<i64>> = redis::cmd("EXEC").query(&mut c).expect("exec");
    assert_eq!(aborted, None);
    let value: i64 = c.get("{acct}:alice").expect("get");
    assert_eq!(value, 99);

    // A queuing error aborts the whole transaction.
    let _: () = redis::cmd("MULTI").query(&mut c).expect("multi");
    let _: redis::RedisResult<()> = redis::cmd("NOSUCH").query(&mut c);
    let exec: redis::RedisResult<()> = redis::cmd("EXEC").query(&mut c);
    let err = exec.unwrap_err();
    assert_eq!(err.kind(), redis::ErrorKind::ExecAbortError, "{err}");
}

#[test]
fn randomkey_returns_live_keys_of_every_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let none: Option<String> = redis::cmd("RANDOMKEY").query(&mut c).expect("randomkey");
    assert_eq!(none, None, "an empty keyspace has no random key");
    let live: Vec<String> = (0..20).map(|i| format!("key:{i}")).collect();
    for key in &live {
        let _: () = c.set(key, 1).expect("set");
    }
    for i in 0..20 {
        let _: () = redis::cmd("SET").arg(format!("short:{i}")).arg(1).arg("PX").arg(1).query(&mut c).expect("set px");
    }
    std::thread::sleep(Duration::from_millis(20));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2000 {
        let key: String = redis::cmd("RANDOMKEY").query(&mut c).expect("randomkey");
        assert!(live.contains(&key), "{key} is not a live key");
        seen.insert(key);
    }
    assert_eq!(seen.len(), live.len(), "every key comes up, whichever partition holds it");
    let error = redis::cmd("RANDOMKEY").arg("x").query::<String>(&mut c).expect_err("arity");
    assert!(error.to_string().contains("wrong number of arguments for 'randomkey' command"), "{error}");
}

#[test]
fn save_and_bgsave_snapshot_every_partition_and_move_lastsave() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--partitions", "4"]);
    let mut c = node.client();
    let unix = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let started: i64 = redis::cmd("LASTSAVE").query(&mut c).expect("lastsave");
    assert!((unix() - started).abs() < 60, "LASTSAVE starts at the node's start: {started}");
    let built = |c: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("persistence").query(c).expect("info");
        let line = info.lines().find_map(|l| l.strip_prefix("weir_snapshots_built:")).expect("snapshot count");
        line.trim().parse().expect("a number")
    };
    for i in 0..100 {
        let _: () = c.set(format!("key:{i}"), i).expect("set");
    }
    let before = built(&mut c);
    std::thread::sleep(Duration::from_millis(1100));
    let ok: String = redis::cmd("SAVE").query(&mut c).expect("save");
    assert_eq!(ok, "OK");
    let partitions = 4; // every one writes a snapshot
    assert!(built(&mut c) >= before + partitions, "SAVE snapshots every partition");
    let saved: i64 = redis::cmd("LASTSAVE").query(&mut c).expect("lastsave");
    assert!(saved > started && saved <= unix(), "LASTSAVE moved to the SAVE: {started} -> {saved}");
    let before = built(&mut c);
    let started: String = redis::cmd("BGSAVE").arg("SCHEDULE").query(&mut c).expect("bgsave");
    assert_eq!(started, "Background saving started");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while built(&mut c) < before + partitions {
        assert!(std::time::Instant::now() < deadline, "BGSAVE's snapshots were written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let error = redis::cmd("BGSAVE").arg("x").query::<String>(&mut c).expect_err("syntax");
    assert!(error.to_string().contains("syntax error"), "{error}");
    let error = redis::cmd("SAVE").arg("x").query::<String>(&mut c).expect_err("arity");
    assert!(error.to_string().contains("wrong number of arguments for 'save' command"), "{error}");
    // What SAVE wrote is what a restart loads.
    drop(node);
    let node = common::start_weir(dir.path(), &["--partitions", "4"]);
    let mut c = node.client();
    let value: i64 = c.get("key:42").expect("get");
    assert_eq!(value, 42);
}

#[test]
fn shutdown_answers_nothing_and_stops_the_node_with_every_write_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &["--partitions", "2"]);
    let mut c = node.client();
    let error = |c: &mut redis::Connection, args: &[&str]| -> String {
        let error = redis::cmd(args[0]).arg(&args[1..]).query::<redis::Value>(c).expect_err("refused");
        error.to_string()
    };
    // Refusals as in Redis 7: the node keeps serving after each.
    assert!(error(&mut c, &["SHUTDOWN", "ABORT"]).contains("No shutdown in progress."));
    for bad in [&["SHUTDOWN", "SAVE", "NOSAVE"][..], &["SHUTDOWN", "ABORT", "NOW"], &["SHUTDOWN", "LATER"]] {
        assert!(error(&mut c, bad).contains("syntax error"), "{bad:?}");
    }
    let _: () = redis::cmd("MULTI").query(&mut c).expect("multi");
    for refused in ["SHUTDOWN", "SAVE"] {
        assert!(error(&mut c, &[refused]).contains("Command not allowed inside a transaction"), "{refused}");
    }
    let aborted = error(&mut c, &["EXEC"]);
    assert!(aborted.contains("Transaction discarded because of previous errors"), "{aborted}");
    // Writes pipelined before SHUTDOWN are answered; SHUTDOWN itself is
    // not: the connection closes, and the process ends on its own.
    let mut pipe = redis::pipe();
    for i in 0..50 {
        pipe.cmd("RPUSH").arg("queue").arg(i).ignore();
    }
    let _: () = pipe.query(&mut c).expect("writes before the shutdown");
    let hung_up = redis::cmd("SHUTDOWN").arg("SAVE").arg("NOW").query::<redis::Value>(&mut c);
    assert!(hung_up.is_err(), "SHUTDOWN answers nothing: {hung_up:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = node.child.try_wait().expect("wait") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the node stopped after SHUTDOWN");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "a clean exit: {status}");
    assert!(node.output().contains("SHUTDOWN from a client"), "{}", node.output());
    let node = common::start_weir(dir.path(), &["--partitions", "2"]);
    let mut c = node.client();
    let kept: Vec<i64> = c.lrange("queue", 0, -1).expect("lrange");
    assert_eq!(kept, (0..50).collect::<Vec<i64>>());
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).expect("info");
    assert!(info.contains("weir_snapshots_built:"), "{info}");
}

#[test]
fn expiry_lazy_and_active() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    // The TTL check uses a key of its own with a long TTL: a slow CI machine
    // may take longer than 150 ms to write the hundred short-lived keys.
    let _: () = redis::cmd("SET").arg("probe").arg(1).arg("PX").arg(60_000).query(&mut c).expect("set probe");
    let ttl: i64 = c.pttl("probe").expect("pttl");
    assert!(ttl > 50_000 && ttl <= 60_000, "pttl {ttl}");
    for i in 0..100 {
        let _: () = redis::cmd("SET").arg(format!("tmp:{i}")).arg(i).arg("PX").arg(150).query(&mut c).expect("set px");
    }
    let _: () = c.set("keep", 1).expect("set");
    std::thread::sleep(Duration::from_millis(400));
    let gone: Option<i64> = c.get("tmp:1").expect("get");
    assert_eq!(gone, None, "lazily hidden");
    // Active expiry removes them from DBSIZE within a few cycles.
    let mut size = 0;
    for _ in 0..50 {
        size = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
        if size == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(size, 2, "active expiry removed the expired keys");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).expect("info");
    assert!(info.contains("expired_keys:100"), "{info}");
}

#[test]
fn data_survives_restart_with_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--snapshot-every", "50", "--partitions", "4"]);
    let mut c = node.client();
    for i in 0..2000 {
        let _: () = c.hset(format!("user:{}", i % 50), format!("f{i}"), i).expect("hset");
    }
    let _: () = redis::cmd("SADD").arg("tags").arg("a").arg("b").query(&mut c).expect("sadd");
    let _: () = redis::cmd("SET").arg("ttl-key").arg("v").arg("EX").arg(1000).query(&mut c).expect("set ex");
    let node = node.restart();
    let mut c = node.client();
    let fields: i64 = c.hlen("user:7").expect("hlen");
    assert_eq!(fields, 40);
    let members: Vec<String> = c.smembers("tags").expect("smembers");
    assert_eq!(members.len(), 2);
    let ttl: i64 = c.ttl("ttl-key").expect("ttl");
    assert!(ttl > 990, "TTL survives restart: {ttl}");
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).expect("info");
    assert!(info.contains("weir_fsync:always"), "{info}");
    let snapshots = std::fs::read_dir(dir.path().join("snapshots")).expect("snapshots").count();
    assert!(snapshots > 0, "snapshots were written");
}

/// By default a partition snapshots once its log outgrows
/// `SNAPSHOT_AFTER_LOG_BYTES` (4 MiB), however few entries that took.
#[test]
fn the_default_snapshot_follows_log_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--partitions", "1"]);
    let mut c = node.client();
    let value = vec![b'v'; 100 << 10];
    for i in 0..30 {
        let _: () = c.set(format!("small:{i}"), i).expect("set");
    }
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).expect("info");
    assert!(info.contains("weir_snapshots_built:0"), "a few small entries take no snapshot: {info}");
    for i in 0..50 {
        let _: () = c.set(format!("big:{i}"), &value).expect("set");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).expect("info");
        if !info.contains("weir_snapshots_built:0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "5 MB of log and no snapshot: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let node = node.restart();
    let mut c = node.client();
    let restored: Vec<u8> = c.get("big:49").expect("get");
    assert_eq!(restored, value);
    let small: i64 = c.get("small:29").expect("get");
    assert_eq!(small, 29);
}

#[test]
fn introspection_answers_like_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut c = node.client();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).expect("client id");
    assert!(id > 0);
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("tester").query(&mut c).expect("setname");
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut c).expect("getname");
    assert_eq!(name, "tester");
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut c).expect("client list");
    assert!(list.contains("name=tester"), "{list}");
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).expect("command count");
    assert!(count > 70);
    let config: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("appendonly").query(&mut c).expect("config get");
    assert_eq!(config, vec!["appendonly".to_string(), "yes".to_string()]);
    let info: String = redis::cmd("INFO").query(&mut c).expect("info");
    let sections = ["# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU"];
    for section in sections.iter().chain(&["# Keyspace"]) {
        assert!(info.contains(section), "INFO lacks {section}");
    }
    let cpu: String = redis::cmd("INFO").arg("cpu").query(&mut c).expect("info cpu");
    // Seconds at the clock tick's grain: a node that has barely worked may
    // show 0 in one of the two, never in both.
    let seconds = |field: &str| -> f64 {
        let value = cpu.lines().find_map(|l| l.strip_prefix(field)).expect(field);
        value.parse().unwrap_or_else(|_| panic!("{field} {value}"))
    };
    let (user, sys) = (seconds("used_cpu_user:"), seconds("used_cpu_sys:"));
    assert!(user >= 0.0 && sys >= 0.0 && user + sys > 0.0, "{cpu}");
    let _: redis::RedisResult<()> = redis::cmd("GET").query(&mut c);
    let stats: String = redis::cmd("INFO").arg("commandstats").query(&mut c).expect("commandstats");
    assert!(stats.contains("cmdstat_get:calls=0,") && stats.contains("rejected_calls=1"), "{stats}");
    let select: redis::RedisResult<()> = redis::cmd("SELECT").arg(1).query(&mut c);
    assert!(select.unwrap_err().to_string().contains("SELECT is not allowed in cluster mode"));
    let waited: i64 = redis::cmd("WAIT").arg(0).arg(100).query(&mut c).expect("wait");
    assert_eq!(waited, 0, "a cluster of one has no replicas to count");
    let hello: redis::Value = redis::cmd("HELLO").arg(3).query(&mut c).expect("hello 3");
    assert!(format!("{hello:?}").contains("proto"));
}

#[test]
fn http_health_ready_metrics_and_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    assert_eq!(common::http(node.http, "GET", "/health", &[], "").0, 200);
    assert_eq!(common::http(node.http, "GET", "/ready", &[], "").0, 200);
    let (status, body) = common::http(node.http, "POST", "/v1/command", &[], "[\"INCR\",\"likes:1\"]");
    assert_eq!((status, body.as_str()), (200, "{\"result\":1}"));
    let (status, body) = common::http(node.http, "POST", "/v1/command", &[], "[\"HSET\",\"h\",\"a\",\"1\"]");
    assert_eq!((status, body.as_str()), (200, "{\"result\":1}"));
    let (_, body) = common::http(node.http, "POST", "/v1/command", &[], "[\"HGETALL\",\"h\"]");
    assert_eq!(body, "{\"result\":{\"a\":\"1\"}}");
    let (status, body) = common::http(node.http, "POST", "/v1/command", &[], "[\"NOPE\"]");
    assert_eq!(status, 422);
    assert!(body.contains("unknown command"));
    assert_eq!(common::http(node.http, "POST", "/v1/command", &[], "not json").0, 400);
    let (status, metrics) = common::http(node.http, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    for name in [
        "weir_commands_total{command=\"incr\"} 1",
        "weir_command_duration_seconds_bucket",
        "weir_batch_items_bucket",
        "weir_log_fsyncs_total",
        "weir_log_bytes_total",
        "weir_log_direct_io ",
        "weir_connected_clients",
        "weir_partition_applied_index{partition=\"7\"}",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
}

/// CONFIG RESETSTAT zeroes what INFO counts, on weir as on redis-server,
/// while weir's `/metrics` counters stay monotonic.
#[test]
fn config_resetstat_restarts_info_counts_but_not_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let redis = common::start_redis(&[]);
    for mut c in [node.client(), redis.client()] {
        for _ in 0..3 {
            let _: i64 = redis::cmd("INCR").arg("n").query(&mut c).expect("incr");
        }
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut c).expect("info");
        assert!(info.contains("cmdstat_incr:calls=3,"), "{info}");
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).expect("resetstat");
        let _: i64 = redis::cmd("INCR").arg("n").query(&mut c).expect("incr");
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut c).expect("info");
        assert!(info.contains("cmdstat_incr:calls=1,"), "counted from the reset: {info}");
        let stats: String = redis::cmd("INFO").arg("stats").query(&mut c).expect("info stats");
        let processed = stats.lines().find(|l| l.starts_with("total_commands_processed:")).expect("line");
        let processed: u64 = processed["total_commands_processed:".len()..].trim().parse().expect("number");
        assert!((1..=3).contains(&processed), "INCR and INFO since the reset: {processed}");
    }
    let (_, metrics) = common::http(node.http, "GET", "/metrics", &[], "");
    assert!(metrics.contains("weir_commands_total{command=\"incr\"} 4"), "/metrics keeps counting:\n{metrics}");
}

#[test]
fn redis_benchmark_runs_unmodified_without_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let output = std::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &node.addr.port().to_string()])
        // No -t: every default test, lists and sorted sets included.
        .args(["-n", "2000", "-c", "20", "-q"])
        .output()
        .expect("redis-benchmark is required (apt-get install redis-tools)");
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(!text.to_lowercase().contains("error"), "redis-benchmark reported errors:\n{text}");
    let defaults = [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100",
        "LRANGE_300",
        "LRANGE_500",
        "LRANGE_600",
        "MSET",
    ];
    for test in defaults {
        assert!(text.contains(test), "{test} did not run:\n{text}");
    }
}

#[test]
fn interval_fsync_loses_nothing_on_a_process_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--fsync", "interval", "--fsync-interval-ms", "1000"]);
    let mut c = node.client();
    for i in 0..500 {
        let _: () = c.set(format!("k{i}"), i).expect("set");
    }
    // Killed well within one fsync interval: the writes are in the page
    // cache, which a process crash does not lose.
    let node = node.restart();
    let mut c = node.client();
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(size, 500);
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).expect("info");
    assert!(info.contains("weir_fsync:interval(1000ms)"), "{info}");
}

/// A pipeline's plain writes to one partition travel as one group
/// (`weir_server::pipeline`): replies stay in order and per command, an
/// error in the middle answers only its own command, and writes to another
/// partition, reads and transactions in between keep their place.
#[test]
fn pipelined_writes_answer_in_order_across_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--partitions", "4"]);
    // Raw RESP, one write: the redis crate stops a pipeline at its first error.
    let commands = "RPUSH {a}l x\r\nRPUSH {a}l y\r\nSET {a}s v\r\nLPUSH {a}s z\r\nRPUSH {a}l w\r\n\
                    INCR {b}n\r\nINCR {b}n\r\nRPUSH {a}l v\r\nLRANGE {a}l 0 -1\r\nGET {b}n\r\n";
    let expected = ":1\r\n:2\r\n+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n\
                    :3\r\n:1\r\n:2\r\n:4\r\n*4\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nw\r\n$1\r\nv\r\n$1\r\n2\r\n";
    let mut raw = std::net::TcpStream::connect(node.addr).expect("connect");
    raw.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    std::io::Write::write_all(&mut raw, commands.as_bytes()).expect("write");
    let mut got = vec![0u8; expected.len()];
    std::io::Read::read_exact(&mut raw, &mut got).expect("every reply");
    assert_eq!(String::from_utf8_lossy(&got), expected);

    let mut c = node.client();
    // Long pipelines are grouped in bounded pieces and still answered in order.
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("RPUSH").arg("{c}q").arg(i);
    }
    let lengths: Vec<i64> = pipe.query(&mut c).expect("replies");
    assert_eq!(lengths, (1..=1000).collect::<Vec<i64>>());
}

/// COPY of every type, deadline and stream groups included, on weir and
/// redis-server alike.
#[test]
fn copy_copies_every_type_like_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let redis = common::start_redis(&["--databases", "1"]);
    let script = [
        "RPUSH {c}list a b c",
        "ZADD {c}zset 1 x 2 y",
        "HSET {c}hash f v",
        "PEXPIREAT {c}hash 4000000000000",
        "XADD {c}stream 1-1 f v",
        "XADD {c}stream 2-1 f w",
        "XGROUP CREATE {c}stream g 0",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS {c}stream >",
        "COPY {c}list {c}list2",
        "COPY {c}zset {c}list2",
        "COPY {c}zset {c}list2 REPLACE",
        "COPY {c}hash {c}hash2",
        "COPY {c}stream {c}stream2",
        "COPY {c}missing {c}x",
        "COPY {c}list {c}list",
        "TYPE {c}list2",
        "ZRANGE {c}list2 0 -1 WITHSCORES",
        "HGETALL {c}hash2",
        "PEXPIRETIME {c}hash2",
        "XRANGE {c}stream2 - +",
        "XPENDING {c}stream2 g",
        "XREADGROUP GROUP g bob STREAMS {c}stream2 >",
        "XLEN {c}stream",
        "RPUSH {c}list d",
        "LRANGE {c}list 0 -1",
        "COPY {c}list {c}other-slot",
    ];
    let mut replies = Vec::new();
    for mut conn in [node.client(), redis.client()] {
        let mut these = Vec::new();
        for line in script {
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut cmd = redis::cmd(words[0]);
            for w in &words[1..] {
                cmd.arg(*w);
            }
            let reply: redis::RedisResult<redis::Value> = cmd.query(&mut conn);
            these.push(format!("{line} -> {reply:?}"));
        }
        replies.push(these);
    }
    for (ours, theirs) in replies[0].iter().zip(&replies[1]) {
        assert_eq!(ours, theirs);
    }
}
