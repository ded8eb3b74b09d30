//! INFO's statistics after the same commands on weir and on redis-server:
//! errorstats and error totals, and commandstats around transactions and
//! scripts (whose commands are counted in their own lines).

mod common;

use common::pair::{run, start_pair, Pair};
use std::io::{Read, Write};

/// INFO errorstats and total_error_replies after the same errors on both:
/// unknown commands, wrong types, arity, a script's own prefixes, errors
/// raised through redis.call and pcall (counted when the command fails,
/// even if pcall swallows them, and not again when returned), a
/// transaction's failed commands, a protocol error; then CONFIG RESETSTAT.
#[test]
fn error_statistics_match_redis() {
    let (pair, mut ours, mut theirs) = counting_pair();
    let Pair { weir, redis, .. } = &pair;
    let errors = [
        "FOO bar",
        "SET {t}s v",
        "LPUSH {t}s x",
        "GET",
        "INCR {t}s",
        "EVAL return~redis.error_reply('MYCODE~x') 0",
        "EVAL return~redis.error_reply('nospace') 0",
        "EVAL return~redis.call('lpush','{t}s','x') 1 {t}s",
        "EVAL return~redis.pcall('lpush','{t}s','x') 1 {t}s",
        // Swallowed by pcall: counted all the same.
        "EVAL local~r=redis.pcall('lpush','{t}s','x')~return~1 1 {t}s",
        "EVAL local~r=redis.pcall('nosuch')~return~1 0",
        "EVAL local~r=redis.pcall('incr','{t}s')~return~redis.status_reply('fine') 1 {t}s",
        // The mark that it was counted, as scripts see it; without it the
        // returned error is counted again.
        "EVAL local~t=redis.pcall('lpush','{t}s','x')~local~o={}~for~k,v~in~pairs(t)~do~o[#o+1]=k..'='..tostring(v)~end~table.sort(o)~return~o 1 {t}s",
        "EVAL local~t=redis.pcall('lpush','{t}s','x')~t.ignore_error_stats_update=nil~return~t 1 {t}s",
        "EVAL local~t=redis.pcall('lpush','{t}s','x')~t.ignore_error_stats_update=1~return~t 1 {t}s",
        "MULTI",
        "LPUSH {t}s x",
        "INCR {t}s",
        "EXEC",
        "XADD {t}x 0-0 f v",
    ];
    same_replies(&mut ours, &mut theirs, &errors);
    for url in [weir.url(), redis.url()] {
        let addr = url.trim_start_matches("redis://").to_string();
        let mut raw = std::net::TcpStream::connect(addr).expect("connect");
        raw.write_all(b"*1\r\n$abc\r\n").expect("send");
        let mut reply = [0u8; 64];
        let n = raw.read(&mut reply).expect("reply");
        assert!(reply[..n].starts_with(b"-ERR Protocol error"), "{:?}", String::from_utf8_lossy(&reply[..n]));
    }
    let section = |conn: &mut redis::Connection, name: &str| -> String {
        let mut info = redis::cmd("INFO");
        if !name.is_empty() {
            info.arg(name);
        }
        let info: String = info.query(conn).expect("info");
        info.lines()
            .filter(|l| l.starts_with("errorstat_") || l.contains("error_replies"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let expected = "errorstat_ERR:count=9\nerrorstat_MYCODE:count=1\nerrorstat_WRONGTYPE:count=10";
    assert_eq!(section(&mut theirs, "errorstats"), expected, "the reference itself");
    assert_eq!(section(&mut ours, "errorstats"), expected);
    let totals = "unexpected_error_replies:0\ntotal_error_replies:20";
    assert_eq!(section(&mut theirs, "stats"), totals);
    assert_eq!(section(&mut ours, "stats"), totals);
    assert!(section(&mut ours, "").contains("errorstat_ERR"), "in the default sections");
    for conn in [&mut ours, &mut theirs] {
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(conn).expect("resetstat");
    }
    assert_eq!(section(&mut ours, "errorstats"), section(&mut theirs, "errorstats"));
    assert_eq!(section(&mut ours, "stats"), "unexpected_error_replies:0\ntotal_error_replies:0");
    let (_, metrics) = common::http(weir.http, "GET", "/metrics", &[], "");
    assert!(metrics.contains("weir_error_replies_total{code=\"WRONGTYPE\"} 10"), "/metrics keeps counting: {metrics}");
}

/// INFO commandstats around transactions and scripts: a queued command is
/// counted when EXEC runs it (a failure in its own `failed_calls`), not when
/// queued; one refused at queuing is a rejected call; a discarded or aborted
/// transaction's commands are never counted. A script's commands are
/// counted once each, TIME and PING included, however weir ran the script
/// (a writing script is first tried on the read path).
#[test]
fn nested_command_statistics_match_redis() {
    let (_pair, mut ours, mut theirs) = counting_pair();
    let script = [
        "MULTI",
        "SET {t}a 1",
        "INCR {t}a",
        "LPUSH {t}a x",
        "PING",
        "EXEC",
        "MULTI",
        "SET {t}b 1",
        "DISCARD",
        "MULTI",
        "GET",
        "SET {t}c 1",
        "EXEC",
        "WATCH {t}w",
        "SET {t}w 2",
        "MULTI",
        "INCR {t}w",
        "EXEC",
        "EVAL redis.call('set','{t}s','1');redis.pcall('lpush','{t}s','x');return~redis.call('incr','{t}s') 1 {t}s",
        "EVAL_RO return~redis.call('get','{t}s') 1 {t}s",
        "EVAL redis.call('ping');redis.call('ping','x');return~#redis.call('time') 0",
        // A writing script that ends up not writing (answered on weir's
        // read path) and one that writes (tried there, then run in the log).
        "EVAL if~redis.call('get','{t}s')=='0'~then~redis.call('set','{t}s','1')~end~return~1 1 {t}s",
        "EVAL if~redis.call('get','{t}s')=='2'~then~redis.call('set','{t}s','3')~end~return~1 1 {t}s",
    ];
    same_replies(&mut ours, &mut theirs, &script);
    let counted =
        ["multi", "exec", "discard", "watch", "set", "incr", "lpush", "ping", "time", "get", "eval", "eval_ro"];
    let lines = |conn: &mut redis::Connection| -> Vec<String> {
        let info: String = redis::cmd("INFO").arg("commandstats").query(conn).expect("info");
        let mut lines: Vec<String> = info
            .lines()
            .filter_map(|l| l.strip_prefix("cmdstat_"))
            .filter(|l| counted.iter().any(|c| l.starts_with(&format!("{c}:"))))
            .map(|l| {
                let (name, fields) = l.split_once(':').expect("name:fields");
                let keep: Vec<&str> = fields.split(',').filter(|f| !f.starts_with("usec")).collect();
                format!("{name}:{}", keep.join(","))
            })
            .collect();
        lines.sort();
        lines
    };
    let reference = lines(&mut theirs);
    assert!(reference.contains(&"set:calls=4,rejected_calls=0,failed_calls=0".to_string()), "{reference:?}");
    assert!(reference.contains(&"get:calls=3,rejected_calls=1,failed_calls=0".to_string()), "{reference:?}");
    assert_eq!(lines(&mut ours), reference);
    let info: String = redis::cmd("INFO").arg("stats").query(&mut ours).expect("info");
    assert!(
        info.contains("weir_scripts_read:2\r\n"),
        "the two scripts that did not write (one of them keyless) were answered on the read path: {info}"
    );
}

/// weir and redis-server with a client each, counting from zero (the
/// client's CLIENT SETINFO at connect is an error on Redis 7.0).
fn counting_pair() -> (Pair, redis::Connection, redis::Connection) {
    let pair = start_pair();
    let (mut ours, mut theirs) = (pair.weir.client(), pair.redis.client());
    for conn in [&mut ours, &mut theirs] {
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(conn).expect("resetstat");
    }
    (pair, ours, theirs)
}

/// Sends each line (words split on spaces, `~` standing for a space within
/// one) to both; the replies must match.
fn same_replies(ours: &mut redis::Connection, theirs: &mut redis::Connection, lines: &[&str]) {
    for line in lines {
        let args: Vec<String> = line.split_whitespace().map(|a| a.replace('~', " ")).collect();
        assert_eq!(run(ours, &args), run(theirs, &args), "`{line}`");
    }
}
