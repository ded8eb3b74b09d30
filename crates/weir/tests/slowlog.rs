//! SLOWLOG against a real redis-server: the same commands logged the same
//! way (arguments cut as Redis cuts them, newest first, the client's
//! address and name), the same replies to bad input; and on weir, blocking
//! calls and passwords never in the log.

mod common;

use redis::Value;

/// Every command is slow at a threshold of zero, on both servers.
const LOG_ALL: &str = "0";

fn query(conn: &mut redis::Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(conn).unwrap_or_else(|e| Value::SimpleString(format!("error: {e}")))
}

/// The arguments of each entry SLOWLOG GET returns, newest first, and
/// each entry's address and name fields.
fn entries(conn: &mut redis::Connection, count: &str) -> Vec<(Vec<Vec<u8>>, String, String)> {
    let Value::Array(entries) = query(conn, &["SLOWLOG", "GET", count]) else { panic!("an array") };
    entries
        .into_iter()
        .map(|entry| {
            let Value::Array(fields) = entry else { panic!("an entry") };
            assert_eq!(fields.len(), 6, "id, time, micros, args, addr, name");
            assert!(matches!(fields[0], Value::Int(_)) && matches!(fields[2], Value::Int(_)));
            let Value::Array(args) = &fields[3] else { panic!("args") };
            let args = args
                .iter()
                .map(|a| match a {
                    Value::BulkString(b) => b.clone(),
                    other => panic!("arg {other:?}"),
                })
                .collect();
            let text = |v: &Value| match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("text {other:?}"),
            };
            (args, text(&fields[4]), text(&fields[5]))
        })
        .collect()
}

#[test]
fn slowlog_matches_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--slowlog-log-slower-than", LOG_ALL, "--slowlog-max-len", "5"]);
    let redis = common::start_redis(&["--slowlog-log-slower-than", LOG_ALL, "--slowlog-max-len", "5"]);
    let long = "x".repeat(200);
    let many: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    let mut seen = Vec::new();
    for mut conn in [node.client(), redis.client()] {
        let _ = query(&mut conn, &["CLIENT", "SETNAME", "buyer-7"]);
        let _ = query(&mut conn, &["SLOWLOG", "RESET"]);
        let _ = query(&mut conn, &["SET", "{s}k", &long]);
        let mut rpush = vec!["RPUSH", "{s}list"];
        rpush.extend(many.iter().map(String::as_str));
        let _ = query(&mut conn, &rpush);
        let _ = query(&mut conn, &["GET", "{s}k"]);
        let len = query(&mut conn, &["SLOWLOG", "LEN"]);
        let logged = entries(&mut conn, "4");
        let all = entries(&mut conn, "-1");
        assert_eq!(all.len(), 5, "bounded by slowlog-max-len");
        let errors: Vec<Value> = [
            &["SLOWLOG", "GET", "-2"][..],
            &["SLOWLOG", "GET", "x"],
            &["SLOWLOG", "GET", "1", "2"],
            &["SLOWLOG", "LEN", "x"],
            &["SLOWLOG", "NOPE"],
            &["SLOWLOG"],
            &["SLOWLOG", "HELP"],
        ]
        .iter()
        .map(|args| query(&mut conn, args))
        .collect();
        let config = query(&mut conn, &["CONFIG", "GET", "slowlog-*"]);
        for (_, addr, name) in &logged {
            assert!(addr.starts_with("127.0.0.1:"), "{addr}");
            assert_eq!(name, "buyer-7");
        }
        let args: Vec<Vec<Vec<u8>>> = logged.into_iter().map(|e| e.0).collect();
        seen.push((len, args, errors, config));
    }
    let (weir, redis) = (&seen[0], &seen[1]);
    assert_eq!(weir.0, redis.0, "SLOWLOG LEN");
    assert_eq!(weir.1, redis.1, "the newest entries' arguments, cut alike");
    assert_eq!(weir.2, redis.2, "replies to bad input and HELP");
    let config = |v: &Value| {
        let mut pairs = format!("{v:?}").replace("Map(", "").replace("Array(", "");
        pairs.retain(|c| !c.is_whitespace());
        pairs
    };
    assert!(config(&weir.3).contains("slowlog-max-len") && config(&redis.3).contains("slowlog-max-len"));
    let (rpush, set) = (&weir.1[2], &weir.1[3]);
    assert_eq!((rpush.len(), rpush[31].as_slice()), (32, &b"... (11 more arguments)"[..]));
    assert_eq!(set[0], b"SET");
    assert!(set[2].len() == 128 + 19 && set[2].ends_with(b"... (72 more bytes)"), "{set:?}");
}

#[test]
fn blocking_waits_and_passwords_stay_out_of_the_slowlog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--slowlog-log-slower-than", LOG_ALL, "--requirepass", "s3cret"]);
    let mut conn = redis::Client::open(format!("redis://:s3cret@{}", node.addr))
        .expect("client")
        .get_connection()
        .expect("connect");
    let _ = query(&mut conn, &["SLOWLOG", "RESET"]);
    let _ = query(&mut conn, &["BLPOP", "{b}empty", "0.05"]);
    let _ = query(&mut conn, &["AUTH", "s3cret"]);
    let _ = query(&mut conn, &["INCR", "{b}n"]);
    let logged: Vec<Vec<Vec<u8>>> = entries(&mut conn, "-1").into_iter().map(|e| e.0).collect();
    let names: Vec<&[u8]> = logged.iter().map(|args| args[0].as_slice()).collect();
    assert_eq!(names, vec![&b"INCR"[..], b"SLOWLOG"], "no BLPOP, no AUTH: {logged:?}");
    let default = tempfile::tempdir().expect("tempdir");
    let quiet = common::start_weir(default.path(), &[]);
    let mut conn = quiet.client();
    let _ = query(&mut conn, &["INCR", "n"]);
    assert_eq!(query(&mut conn, &["SLOWLOG", "LEN"]), Value::Int(0), "10 ms by default: an INCR is not slow");
}
