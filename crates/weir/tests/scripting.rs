//! EVAL end to end: replies compared live with redis-server (conversions,
//! errors, nested tables, pcall), effects surviving kill -9, and the busy
//! script limit: BUSY on the script's partition, other partitions serving,
//! SCRIPT KILL.

mod common;

use redis::Value;
use std::time::{Duration, Instant};

/// (script, keys, args): every one runs on both servers, in order.
const SCRIPTS: &[(&str, &[&str], &[&str])] = &[
    ("return redis.call('SET', KEYS[1], ARGV[1])", &["{s}a"], &["10"]),
    ("return redis.call('INCRBY', KEYS[1], ARGV[1])", &["{s}a"], &["5"]),
    ("return redis.call('GET', KEYS[1])", &["{s}a"], &[]),
    ("return redis.call('GET', KEYS[1])", &["{s}missing"], &[]),
    ("return {1, 2.9, 'x', {true, false}, nil, 'after nil'}", &[], &[]),
    ("return {redis.call('RPUSH', KEYS[1], 'a', 'b'), redis.call('LRANGE', KEYS[1], 0, -1)}", &["{s}l"], &[]),
    ("return redis.call('ZADD', KEYS[1], 1.5, 'm', 2, 'n')", &["{s}z"], &[]),
    ("return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')", &["{s}z"], &[]),
    ("return redis.call('ZSCORE', KEYS[1], 'm')", &["{s}z"], &[]),
    ("return redis.call('HSET', KEYS[1], 'f', 'v')", &["{s}a"], &[]),
    ("return redis.pcall('HSET', KEYS[1], 'f', 'v')", &["{s}a"], &[]),
    ("local r = redis.pcall('INCR', KEYS[1]) return {type(r), r.err}", &["{s}l"], &[]),
    ("local ok, e = pcall(redis.call, 'INCR', KEYS[1]) return {tostring(ok), e.err}", &["{s}l"], &[]),
    (
        "redis.call('SET', KEYS[1], 7) redis.call('APPEND', KEYS[1], 2.5) return redis.call('GET', KEYS[1])",
        &["{s}n"],
        &[],
    ),
    ("return redis.call('SET', KEYS[1], 'v', 'EX', 100.0)", &["{s}n"], &[]),
    ("return newproxy", &[], &[]),
    // Read-only globals and libraries: nothing a script does outlives it.
    ("tostring = function() return 'replaced' end return 1", &[], &[]),
    ("return tostring(5)", &[], &[]),
    ("string.x = 1 return 1", &[], &[]),
    ("math.floor = nil return 1", &[], &[]),
    ("return type(math.floor)", &[], &[]),
    ("redis.call = nil return 1", &[], &[]),
    ("rawset(_G, 'stash', 1) return 1", &[], &[]),
    ("setmetatable(_G, nil) return 1", &[], &[]),
    ("table.insert(string, 'x') return 1", &[], &[]),
    ("getmetatable('').__index.upper = nil return 1", &[], &[]),
    ("return ('abc'):upper()", &[], &[]),
    ("return undefined_global", &[], &[]),
    ("return {type(setfenv)}", &[], &[]),
    ("local t = {} setmetatable(t, {}) rawset(t, 'a', 1) table.insert(t, 2) return {t.a, t[1]}", &[], &[]),
    ("table.insert(nil, 1)", &[], &[]),
    ("rawset(nil, 1, 2)", &[], &[]),
    ("setmetatable(1, {})", &[], &[]),
    ("table.sort({3, 1}, 5)", &[], &[]),
    ("local t = {3, 1, 2} table.sort(t) return {t[1], table.remove(t), #t}", &[], &[]),
    ("local ok, e = pcall(function() error({err='T'}) end) return {type(e), e}", &[], &[]),
    ("local ok, e = pcall(error, {err=5}) return {type(e), e}", &[], &[]),
    ("local ok, e = pcall(error, {foo='x'}) return {type(e), e.foo}", &[], &[]),
    ("local ok, a, b = pcall(function() return 1, 2 end) return {tostring(ok), a, b}", &[], &[]),
    (
        "local f = function(x) return type(x) end return {xpcall(function() redis.call('INCR', KEYS[1]) end, f)}",
        &["{s}l"],
        &[],
    ),
    ("return redis.status_reply('DONE')", &[], &[]),
    ("return redis.error_reply('MYERR custom failure')", &[], &[]),
    ("return {err = 'plain failure'}", &[], &[]),
    ("return {ok = 'fine'}", &[], &[]),
    ("error('boom')", &[], &[]),
    ("undefined_function()", &[], &[]),
    ("x = 5", &[], &[]),
    ("return redis.call('NOSUCH')", &[], &[]),
    ("return redis.call()", &[], &[]),
    ("return redis.call('GET', {})", &[], &[]),
    ("return redis.call('INCR')", &[], &[]),
    ("return redis.call('EVAL', 'return 1', 0)", &[], &[]),
    ("return #KEYS + #ARGV * 10", &["{s}1", "{s}2"], &["a", "b", "c"]),
    ("return cjson.encode({1, 2, {a = 'x/y'}})", &[], &[]),
    ("return cjson.decode('[1,[2,\"three\"]]')[2][2]", &[], &[]),
    ("return bit.tohex(bit.bxor(0xff, 0x0f))", &[], &[]),
    ("return redis.sha1hex('abc')", &[], &[]),
    ("return tostring(3) .. tostring(0.1) .. tostring(1e20)", &[], &[]),
    ("return string.format('%d-%s', 42, 'x')", &[], &[]),
    // tonumber reads plain integers itself, and leaves the rest to Lua.
    (
        "local out = {} for i, s in ipairs(ARGV) do local n = tonumber(s) \
         out[i] = n == nil and 'nil' or (tostring(n) .. ' ' .. tostring(1 / n)) end return out",
        &[],
        &[
            "12",
            "-12",
            "-0",
            "0",
            "007",
            "1e3",
            " 12 ",
            "0x10",
            "12abc",
            "",
            "-",
            "123456789012345",
            "1234567890123456",
            "9007199254740993",
            "+5",
            "1.5",
            "-1.5e2",
            "inf",
            "nan",
            "1\u{0}2",
        ],
    ),
    ("return {tonumber('ff', 16), tonumber('101', 2), tonumber(7), tonumber(nil), tonumber({})}", &[], &[]),
    ("return tonumber()", &[], &[]),
    ("return tonumber('10', 99)", &[], &[]),
    ("retur 1", &[], &[]),
    ("redis.setresp(3) return redis.call('HGETALL', KEYS[1])", &["{s}h"], &[]),
    ("redis.setresp(4)", &[], &[]),
];

fn eval(conn: &mut redis::Connection, script: &str, keys: &[&str], args: &[&str]) -> Value {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
    match cmd.query::<Value>(conn) {
        Ok(v) => v,
        Err(e) => Value::SimpleString(format!("error: {e}")),
    }
}

#[test]
fn replies_match_redis_server() {
    let redis = common::start_redis(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let (mut theirs, mut ours) = (redis.client(), node.client());
    for (script, keys, args) in SCRIPTS {
        let want = eval(&mut theirs, script, keys, args);
        let got = eval(&mut ours, script, keys, args);
        assert_eq!(got, want, "EVAL {script:?} {keys:?} {args:?}");
    }
}

#[test]
fn evalsha_script_load_exists_flush_and_crossslot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg("return ARGV[1]").query(&mut conn).expect("load");
    let echoed: String = redis::cmd("EVALSHA").arg(&sha).arg(0).arg("hi").query(&mut conn).expect("evalsha");
    assert_eq!(echoed, "hi");
    let exists: Vec<i64> = redis::cmd("SCRIPT").arg("EXISTS").arg(&sha).arg("0000").query(&mut conn).expect("exists");
    assert_eq!(exists, vec![1, 0]);
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).expect("flush");
    let err = redis::cmd("EVALSHA").arg(&sha).arg(0).query::<Value>(&mut conn).unwrap_err();
    assert_eq!(err.code(), Some("NOSCRIPT"));
    let err = redis::cmd("EVAL").arg("return 1").arg(2).arg("a").arg("b").query::<Value>(&mut conn).unwrap_err();
    assert_eq!(err.code(), Some("CROSSSLOT"));
    let err = redis::cmd("EVAL_RO").arg("return redis.call('DEL', KEYS[1])").arg(1).arg("k").query::<Value>(&mut conn);
    assert!(err.unwrap_err().to_string().contains("Write commands are not allowed from read-only scripts"));
    let read: Option<String> =
        redis::cmd("EVAL_RO").arg("return redis.call('GET', KEYS[1])").arg(1).arg("k").query(&mut conn).expect("ro");
    assert_eq!(read, None);
}

/// MULTI … EVAL/EVALSHA … EXEC on both servers: queued replies, the
/// EXEC array (a flushed EVALSHA fails inside it), and WATCH aborting.
fn transaction_replies(conn: &mut redis::Connection) -> Vec<Value> {
    let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg("return 'loaded'").query(conn).expect("load");
    let incr = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    let mut out = Vec::new();
    let mut run = |cmd: &mut redis::Cmd| {
        out.push(cmd.query::<Value>(conn).unwrap_or_else(|e| Value::SimpleString(e.to_string())))
    };
    run(&mut redis::cmd("MULTI"));
    run(redis::cmd("SET").arg("{t}n").arg(1));
    run(redis::cmd("EVAL").arg(incr).arg(1).arg("{t}n").arg(41));
    run(redis::cmd("EVAL").arg("return {1, 'two'}").arg(0));
    run(redis::cmd("EVALSHA").arg(&sha).arg(0));
    run(redis::cmd("EVAL").arg("return redis.call('GET', KEYS[1])").arg(1).arg("{t}n"));
    run(&mut redis::cmd("EXEC"));
    run(redis::cmd("SCRIPT").arg("FLUSH"));
    run(&mut redis::cmd("MULTI"));
    run(redis::cmd("EVALSHA").arg(&sha).arg(0));
    run(redis::cmd("EVAL_RO").arg("return redis.call('SET', KEYS[1], 0)").arg(1).arg("{t}n"));
    run(&mut redis::cmd("EXEC"));
    run(redis::cmd("WATCH").arg("{t}n"));
    run(redis::cmd("SET").arg("{t}n").arg(7));
    run(&mut redis::cmd("MULTI"));
    run(redis::cmd("EVAL").arg(incr).arg(1).arg("{t}n").arg(1));
    run(&mut redis::cmd("EXEC"));
    run(redis::cmd("GET").arg("{t}n"));
    out
}

#[test]
fn eval_inside_multi_matches_redis_server() {
    let redis = common::start_redis(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let want = transaction_replies(&mut redis.client());
    let got = transaction_replies(&mut node.client());
    assert_eq!(got, want);
    assert_eq!(
        got[6],
        Value::Array(vec![
            Value::Okay,
            Value::Int(42),
            Value::Array(vec![Value::Int(1), Value::BulkString(b"two".to_vec())]),
            Value::BulkString(b"loaded".to_vec()),
            Value::BulkString(b"42".to_vec()),
        ])
    );
}

/// `weir_batches_total`-style counter from /metrics.
fn metric(node: &common::WeirNode, name: &str) -> f64 {
    let (_, body) = common::http(node.http, "GET", "/metrics", &[], "");
    let line = body.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with(' ')).expect(name);
    line[name.len()..].trim().parse().expect("a number")
}

#[test]
fn pipelined_scripts_share_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let before = metric(&node, "weir_batch_items_count");
    let mut pipe = redis::pipe();
    for _ in 0..256 {
        pipe.cmd("EVAL").arg("return redis.call('INCR', KEYS[1])").arg(1).arg("{p}n");
    }
    let replies: Vec<i64> = pipe.query(&mut conn).expect("pipeline");
    assert_eq!(replies, (1..=256).collect::<Vec<_>>(), "in order, each after the one before");
    let batches = metric(&node, "weir_batch_items_count") - before;
    // Each script waiting for the one before it would take 256 batches.
    assert!(batches < 128.0, "256 pipelined scripts took {batches} batches");
}

#[test]
fn script_effects_are_logged_and_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &[]);
    let script = "redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('RPUSH', KEYS[2], ARGV[1]) \
                  return redis.call('TIME')[1] ~= nil";
    let mut conn = node.client();
    for i in 1..=50 {
        let _: Value =
            redis::cmd("EVAL").arg(script).arg(2).arg("{o}n").arg("{o}l").arg(i).query(&mut conn).expect("eval");
    }
    node.kill9();
    node = node.restart();
    let mut conn = node.client();
    let total: i64 = redis::cmd("GET").arg("{o}n").query(&mut conn).expect("get");
    assert_eq!(total, (1..=50).sum::<i64>());
    let len: i64 = redis::cmd("LLEN").arg("{o}l").query(&mut conn).expect("llen");
    assert_eq!(len, 50);
}

#[test]
fn a_busy_script_blocks_only_its_partition_and_script_kill_stops_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &["--busy-script-ms", "300"]);
    let url = node.url();
    let looping = std::thread::spawn(move || {
        let mut conn = redis::Client::open(url).expect("client").get_connection().expect("connect");
        redis::cmd("EVAL").arg("while true do end").arg(1).arg("{busy}k").query::<Value>(&mut conn)
    });
    let mut conn = node.client();
    // A write sent while the script runs, before the limit, queues behind
    // it, and is answered BUSY once the limit passes (not after the kill).
    std::thread::sleep(Duration::from_millis(100));
    let (queued_tx, queued) = std::sync::mpsc::channel();
    let queued_url = node.url();
    std::thread::spawn(move || {
        let mut conn = redis::Client::open(queued_url).expect("client").get_connection().expect("connect");
        let _ = queued_tx.send(redis::cmd("SET").arg("{busy}queued").arg(1).query::<()>(&mut conn));
    });
    // The same partition answers BUSY once the script passes the limit.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match redis::cmd("GET").arg("{busy}other").query::<Option<String>>(&mut conn) {
            Err(e) if e.code() == Some("BUSY") => break,
            _ if Instant::now() > deadline => panic!("never BUSY"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let queued = queued.recv_timeout(Duration::from_secs(10)).expect("the queued write is answered");
    assert_eq!(queued.unwrap_err().code(), Some("BUSY"));
    // Writes and scripts on that partition are refused too, not queued.
    let err = redis::cmd("SET").arg("{busy}other").arg(1).query::<()>(&mut conn).unwrap_err();
    assert_eq!(err.code(), Some("BUSY"));
    let err = redis::cmd("EVAL").arg("return 1").arg(1).arg("{busy}x").query::<Value>(&mut conn).unwrap_err();
    assert_eq!(err.code(), Some("BUSY"));
    // Another partition keeps serving reads and writes.
    let other = (0..1000).map(|i| format!("free{i}")).find(|k| slot_partition(k) != slot_partition("{busy}k"));
    let other = other.expect("a key on another partition");
    let started = Instant::now();
    for i in 0..100 {
        let _: () = redis::cmd("SET").arg(&other).arg(i).query(&mut conn).expect("other partition writes");
    }
    assert!(started.elapsed() < Duration::from_secs(10), "other partitions slowed to a crawl");
    let _: () = redis::cmd("SCRIPT").arg("KILL").query(&mut conn).expect("kill");
    let killed = looping.join().expect("eval thread");
    let killed = killed.expect_err("the script was killed");
    assert!(killed.to_string().contains("Script killed by user with SCRIPT KILL"), "{killed}");
    let err = redis::cmd("SCRIPT").arg("KILL").query::<()>(&mut conn).unwrap_err();
    assert_eq!(err.code(), Some("NOTBUSY"));
    // The killed script is behind a snapshot: a restart does not run it again.
    node = node.restart();
    let value: i64 = redis::cmd("GET").arg(&other).query(&mut node.client()).expect("get after restart");
    assert_eq!(value, 99);
}

/// Which of the default 8 partitions a key's slot falls in.
fn slot_partition(key: &str) -> usize {
    usize::from(weir_state::key_slot(key.as_bytes())) * 8 / 16384
}

/// The flash sale's shape: a read decides whether the script writes.
const BUY: &str = "if tonumber(redis.call('GET', KEYS[1])) < 1 then return 'sold_out' end \
                   redis.call('DECR', KEYS[1]) return 'ok'";

fn eval_str(conn: &mut redis::Connection, script: &str, keys: &[&str]) -> String {
    redis::cmd("EVAL").arg(script).arg(keys.len()).arg(keys).query(conn).expect("eval")
}

#[test]
fn a_script_that_writes_nothing_is_answered_without_a_log_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let _: () = redis::cmd("SET").arg("{sale}stock").arg(3).query(&mut conn).expect("set");
    let outcomes: Vec<String> = (0..6).map(|_| eval_str(&mut conn, BUY, &["{sale}stock"])).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "sold_out", "sold_out", "sold_out"]);
    let stock: i64 = redis::cmd("GET").arg("{sale}stock").query(&mut conn).expect("get");
    assert_eq!(stock, 0, "each purchase wrote once, though tried as a read first");
    // Sold out: once a probe (one call in PROBE_EVERY, the script having
    // written) finds it writes no more, answered on the read path, with
    // no batch in the log.
    for _ in 0..weir_server::commands::scripting::PROBE_EVERY {
        assert_eq!(eval_str(&mut conn, BUY, &["{sale}stock"]), "sold_out");
    }
    let (reads, batches) = (metric(&node, "weir_scripts_read_total"), metric(&node, "weir_batch_items_count"));
    for _ in 0..100 {
        assert_eq!(eval_str(&mut conn, BUY, &["{sale}stock"]), "sold_out");
    }
    assert!(metric(&node, "weir_scripts_read_total") - reads >= 99.0, "sold-out answers are reads");
    assert!(metric(&node, "weir_batch_items_count") - batches <= 1.0, "and log nothing");
    // A write that the script swallows with pcall still runs, logged.
    let swallow = "pcall(redis.call, 'INCR', KEYS[1]) return redis.call('GET', KEYS[1])";
    assert_eq!(eval_str(&mut conn, swallow, &["{sale}n"]), "1");
    assert_eq!(eval_str(&mut conn, swallow, &["{sale}n"]), "2");
}

#[test]
fn a_script_tried_as_a_read_sees_the_connections_earlier_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    let check = "return redis.call('GET', KEYS[1]) or 'none'";
    assert_eq!(eval_str(&mut conn, check, &["{r}k"]), "none", "this script is now known to read only");
    let reads = metric(&node, "weir_scripts_read_total");
    for round in 1..=20 {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg("{r}k").arg(round).ignore();
        pipe.cmd("EVAL").arg("return redis.call('INCR', KEYS[1])").arg(1).arg("{r}k").ignore();
        pipe.cmd("EVAL").arg(check).arg(1).arg("{r}k");
        let (seen,): (String,) = pipe.query(&mut conn).expect("pipeline");
        assert_eq!(seen, (round + 1).to_string(), "a read after this connection's writes sees them");
    }
    assert!(metric(&node, "weir_scripts_read_total") - reads >= 20.0, "each check was answered as a read");
}

#[test]
fn a_long_script_that_writes_nothing_still_runs_to_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    // Past a try's instruction budget: run logged instead, to the end.
    let count = "local n = 0 for i = 1, 2000000 do n = n + 1 end return n";
    let reads = metric(&node, "weir_scripts_read_total");
    for _ in 0..3 {
        let n: i64 = redis::cmd("EVAL").arg(count).arg(0).query(&mut conn).expect("eval");
        assert_eq!(n, 2_000_000);
    }
    assert_eq!(metric(&node, "weir_scripts_read_total"), reads, "none was answered by its try");
}
