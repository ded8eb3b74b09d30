//! `--maxmemory` against the real binary: past the limit, commands that may
//! grow memory are refused with Redis's OOM error (inside MULTI too, and
//! writing scripts), while reads, deletes and read-only scripts go on;
//! every write acknowledged before the refusals stays readable; once
//! memory is freed, writes are accepted again. INFO, CONFIG GET and
//! /metrics report the figures.

mod common;

use common::{http, start_weir};
use redis::Value;
use std::time::{Duration, Instant};

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// A limit a little above what an idle node takes (~10 MB allocated).
const LIMIT: &str = "48mb";
const LIMIT_BYTES: u64 = 48 << 20;
const VALUE_BYTES: usize = 4096;
/// Long enough for the sampler (every 20 ms) to see a change.
const SETTLE: Duration = Duration::from_millis(200);

fn info_field(conn: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("memory").query(conn).expect("info");
    let line =
        info.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("{field} in {info}"));
    line.split_once(':').expect("field:value").1.to_string()
}

fn error_text(result: redis::RedisResult<Value>) -> String {
    match result {
        Err(e) => format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")).trim().to_string(),
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

#[test]
fn past_maxmemory_writes_are_refused_and_freed_memory_lets_them_in_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start_weir(dir.path(), &["--maxmemory", LIMIT]);
    let mut conn = node.client();
    assert_eq!(info_field(&mut conn, "maxmemory"), LIMIT_BYTES.to_string());
    assert_eq!(info_field(&mut conn, "maxmemory_policy"), "noeviction");
    let config: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("maxmemory").query(&mut conn).expect("config");
    assert_eq!(config, vec!["maxmemory".to_string(), LIMIT_BYTES.to_string()]);

    // Fill until refused: every acknowledged key is kept.
    let value = "v".repeat(VALUE_BYTES);
    let mut acknowledged = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let refusal = loop {
        let result: redis::RedisResult<Value> =
            redis::cmd("SET").arg(format!("key:{acknowledged}")).arg(&value).query(&mut conn);
        match result {
            Ok(_) => acknowledged += 1,
            Err(e) => break format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
        }
        assert!(Instant::now() < deadline, "never refused after {acknowledged} writes");
    };
    assert_eq!(refusal.trim(), OOM);
    let used: u64 = info_field(&mut conn, "used_memory").parse().expect("a number");
    assert!(used > LIMIT_BYTES, "refused at {used} bytes, over the limit");
    assert!(acknowledged * VALUE_BYTES > 8 << 20, "the limit let the data grow first ({acknowledged} keys)");

    // Writes that may grow memory are refused, others go on.
    let refused = [
        redis::cmd("LPUSH").arg("list").arg("x").clone(),
        redis::cmd("INCR").arg("counter").clone(),
        redis::cmd("EVAL").arg("return redis.call('SET', KEYS[1], 'x')").arg(1).arg("k").clone(),
    ];
    for command in refused {
        assert_eq!(error_text(command.query(&mut conn)), OOM);
    }
    let read: Value = redis::cmd("GET").arg("key:0").query(&mut conn).expect("reads go on");
    assert!(matches!(read, Value::BulkString(v) if v.len() == VALUE_BYTES));
    let script: i64 = redis::cmd("EVAL_RO").arg("return 7").arg(0).query(&mut conn).expect("read-only scripts go on");
    assert_eq!(script, 7);
    let _: i64 = redis::cmd("EXPIRE").arg("key:0").arg(1000).query(&mut conn).expect("not denyoom");
    // Inside MULTI the refusal aborts the transaction, as in Redis.
    let _: () = redis::cmd("MULTI").query(&mut conn).expect("multi");
    assert_eq!(error_text(redis::cmd("SET").arg("a").arg("b").query(&mut conn)), OOM);
    let exec = error_text(redis::cmd("EXEC").query(&mut conn));
    assert!(exec.starts_with("EXECABORT"), "{exec}");
    let rejected: String = redis::cmd("INFO").arg("commandstats").query(&mut conn).expect("info");
    assert!(rejected.lines().any(|l| l.starts_with("cmdstat_set:") && !l.contains("rejected_calls=0")), "{rejected}");
    let (status, metrics) = http(node.http, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(metrics.contains(&format!("weir_maxmemory_bytes {LIMIT_BYTES}")), "{metrics}");
    assert!(metrics.contains("weir_used_memory_bytes "));

    // Every acknowledged write is there; deleting them lets writes in again.
    for i in (0..acknowledged).step_by(97) {
        let len: usize = redis::cmd("STRLEN").arg(format!("key:{i}")).query(&mut conn).expect("strlen");
        assert_eq!(len, VALUE_BYTES, "key:{i} was acknowledged");
    }
    let _: () = redis::cmd("FLUSHALL").query(&mut conn).expect("flush is not refused");
    let accepted = (0..50).any(|_| {
        std::thread::sleep(SETTLE);
        redis::cmd("SET").arg("after").arg("x").query::<()>(&mut conn).is_ok()
    });
    assert!(accepted, "writes accepted again once memory was freed (used {})", info_field(&mut conn, "used_memory"));
}

#[test]
fn zero_means_no_limit_and_the_default_is_half_the_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unlimited = start_weir(dir.path(), &["--maxmemory", "0"]);
    assert_eq!(info_field(&mut unlimited.client(), "maxmemory"), "0");
    drop(unlimited);
    let dir = tempfile::tempdir().expect("tempdir");
    let default = start_weir(dir.path(), &[]);
    let limit: u64 = info_field(&mut default.client(), "maxmemory").parse().expect("a number");
    // SAFETY: sysconf reads constants of the system.
    let total = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) as u64 * libc::sysconf(libc::_SC_PAGESIZE) as u64 };
    assert_eq!(limit, total / 100 * 50);
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = common::try_start_weir(dir.path(), &["--maxmemory", "12tb"]);
    assert!(refused.is_err(), "an unknown unit is refused at startup");
}
