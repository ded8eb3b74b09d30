//! `weir sink postgres` against a real PostgreSQL: 200,000 orders XADDed
//! and drained into a table, with the sink killed (kill -9) twice midway.
//! Exactly 200,000 rows, one per order, and nothing left pending. And the
//! `likes` load written behind; both read the sink's own /metrics.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORDERS: usize = 200_000;
const DEADLINE: Duration = Duration::from_secs(600);

fn sink(node: &common::WeirNode, pg: &common::postgres::Postgres, config: &std::path::Path, http: u16) -> Child {
    Command::new(common::weir_bin())
        .args(["sink", "postgres", "--url", &node.url(), "--postgres", &pg.conn_string(), "--idle-exit-ms", "5000"])
        .args(["--http", &format!("127.0.0.1:{http}")])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weir sink")
}

/// One series of the sink's /metrics (`name{sink="..."} value`), once
/// the endpoint answers.
fn metric(http: u16, name: &str, sink: &str) -> Option<f64> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], http));
    std::net::TcpStream::connect(addr).ok()?;
    let (status, body) = common::http(addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    let series = format!("{name}{{sink=\"{sink}\"}} ");
    body.lines().find_map(|l| l.strip_prefix(series.as_str())?.parse().ok())
}

/// Polls a metric until `done` holds for it (the sink still running).
fn wait_metric(http: u16, name: &str, sink: &str, done: impl Fn(f64) -> bool) -> f64 {
    let started = Instant::now();
    loop {
        if let Some(value) = metric(http, name, sink).filter(|v| done(*v)) {
            return value;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{name} for {sink}: {:?}", metric(http, name, sink));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rows(pg: &common::postgres::Postgres) -> usize {
    // The table appears once the sink has started.
    let exists = pg.query("SELECT count(*) FROM pg_tables WHERE tablename = 'orders'");
    if exists != "1" {
        return 0;
    }
    pg.query("SELECT count(*) FROM orders").parse().expect("a count")
}

fn wait_rows(pg: &common::postgres::Postgres, at_least: usize, started: Instant) {
    while rows(pg) < at_least {
        assert!(started.elapsed() < DEADLINE, "the sink made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_hundred_thousand_orders_sink_exactly_once_despite_two_kills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let pg = common::postgres::start_postgres();
    let mut conn = node.client();
    common::add_orders(&mut conn, "orders", ORDERS, |i| vec![("sku".into(), (i % 97).to_string())]);
    let config = dir.path().join("sink.toml");
    std::fs::write(
        &config,
        "[[streams]]\nstream = \"orders\"\ntable = \"orders\"\nbatch = 1000\n[streams.columns]\norder = \"order_text\"\nsku = \"sku\"\n",
    )
    .expect("config");
    let started = Instant::now();
    let http = common::free_port();
    for kill_at in [ORDERS / 4, ORDERS / 2] {
        let mut running = sink(&node, &pg, &config, http);
        wait_rows(&pg, kill_at, started);
        running.kill().expect("kill -9 the sink");
        running.wait().expect("reap");
    }
    let mut last = sink(&node, &pg, &config, http);
    // The last sink reports its work: rows are what it inserted itself
    // (the re-delivered batch inserted nothing), and the lag drains to 0.
    wait_rows(&pg, ORDERS, started);
    wait_metric(http, "weir_sink_lag", "stream orders", |lag| lag == 0.0);
    let inserted = metric(http, "weir_sink_rows_total", "stream orders").expect("rows");
    let carried = metric(http, "weir_sink_client_writes_total", "stream orders").expect("client writes");
    let statements = metric(http, "weir_sink_statements_total", "stream orders").expect("statements");
    // At most the half left at the second kill (exactly half when the kill
    // came right at a batch boundary: CI saw 100,000).
    assert!(inserted > 0.0 && inserted <= ORDERS as f64 / 2.0, "the last sink inserted {inserted} rows");
    assert!(carried >= inserted && statements >= 1.0, "{carried} entries in {statements} statements");
    let status = last.wait().expect("the last sink");
    assert!(status.success(), "the sink failed: {status}");
    assert_eq!(rows(&pg), ORDERS, "one row per order");
    assert_eq!(pg.query("SELECT count(DISTINCT order_text) FROM orders"), ORDERS.to_string());
    assert_eq!(pg.query("SELECT count(*) FROM orders WHERE sku IS NULL"), "0");
    let pending: redis::Value =
        redis::cmd("XPENDING").arg("orders").arg("weir-sink").query(&mut conn).expect("XPENDING");
    assert!(format!("{pending:?}").starts_with("array([int(0)"), "nothing left pending: {pending:?}");
    eprintln!("{ORDERS} orders sunk in {:.1?} with two kills", started.elapsed());
}

/// The `likes` load (1M INCR on 10k Zipf keys) with the counter sink at
/// 100 ms: PostgreSQL ends equal to the store, in far fewer statements.
#[test]
fn likes_counters_converge_with_at_least_100_writes_per_statement() {
    const WRITES: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let pg = common::postgres::start_postgres();
    let mut conn = node.client();
    // Tracking starts before the load, as a deployment would configure it.
    let _: i64 = redis::cmd("CHANGES").arg("TRACK").arg("*:likes:*").query(&mut conn).expect("track");
    let config = dir.path().join("sink.toml");
    let http = common::free_port();
    std::fs::write(
        &config,
        "[[counters]]\npattern = \"*:likes:*\"\ntable = \"likes\"\ninterval_ms = 100\nbatch = 10000\n",
    )
    .expect("config");
    let sink = Command::new(common::weir_bin())
        .args(["sink", "postgres", "--url", &node.url(), "--postgres", &pg.conn_string(), "--idle-exit-ms", "3000"])
        .args(["--http", &format!("127.0.0.1:{http}")])
        .arg("--config")
        .arg(&config)
        .env("WEIR_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir sink");
    let bench = Command::new(common::weir_bin())
        .args(["bench", "--url", &node.url(), "--scenario", "likes", "--keys", "10000", "--dist", "zipf:0.99"])
        .args(["--requests", &WRITES.to_string(), "--clients", "50", "--pipeline", "16", "--warmup", "0s"])
        .output()
        .expect("weir bench");
    assert!(bench.status.success(), "bench failed: {}", String::from_utf8_lossy(&bench.stderr));
    // The sink's own count of the writes it merged (the feed counts them
    // per key) reaches every INCR, with nothing left waiting.
    let task = "counters *:likes:*";
    wait_metric(http, "weir_sink_client_writes_total", task, |n| n == WRITES as f64);
    wait_metric(http, "weir_sink_lag", task, |lag| lag == 0.0);
    let merged = metric(http, "weir_sink_writes_per_statement", task).expect("writes per statement");
    let output = sink.wait_with_output().expect("the sink exits once idle");
    assert!(output.status.success(), "sink failed: {}", String::from_utf8_lossy(&output.stderr));
    // The store, key by key, against the table.
    let keys: Vec<String> = redis::cmd("KEYS").arg("*:likes:*").query(&mut conn).expect("keys");
    let mut pipe = redis::pipe();
    for key in &keys {
        pipe.get(key);
    }
    let values: Vec<String> = pipe.query(&mut conn).expect("values");
    let store: std::collections::BTreeMap<String, String> = keys.into_iter().zip(values).collect();
    let table: std::collections::BTreeMap<String, String> = pg
        .query("SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM likes")
        .split(',')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    assert_eq!(table.len(), store.len());
    assert!(table == store, "PostgreSQL differs from the store");
    let total: u64 = store.values().map(|v| v.parse::<u64>().expect("a counter")).sum();
    assert_eq!(total, WRITES);
    let log = String::from_utf8_lossy(&output.stderr);
    let statements: u64 = log
        .lines()
        .rev()
        .find_map(|l| l.split("statements=").nth(1)?.split_whitespace().next()?.parse().ok())
        .expect("the sink logs its statements");
    let ratio = WRITES as f64 / statements as f64;
    eprintln!(
        "{WRITES} INCR on {} keys -> {statements} statements: {ratio:.0} client writes per statement",
        store.len()
    );
    assert!(ratio >= 100.0, "{ratio:.1} writes per statement");
    assert!(
        (merged - ratio).abs() / ratio < 0.01,
        "/metrics says {merged:.1} writes per statement, the log {ratio:.1}"
    );
}

/// Two [[counters]] sections whose patterns overlap: each pattern has a
/// feed of its own, so a key matching both lands in both tables, a hash
/// goes out as a JSON object, and a key that expires is deleted from its
/// table.
#[test]
fn overlapping_counter_patterns_each_get_their_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let pg = common::postgres::start_postgres();
    let mut conn = node.client();
    for pattern in ["a:*", "*:x"] {
        let _: i64 = redis::cmd("CHANGES").arg("TRACK").arg(pattern).query(&mut conn).expect("track");
    }
    let _: () = redis::pipe()
        .incr("a:x", 1)
        .incr("a:x", 1)
        .incr("a:x", 1)
        .incr("a:y", 1)
        .hset("b:x", "f", "1")
        .set("c", "4")
        .cmd("SET")
        .arg("a:ttl")
        .arg("soon")
        .arg("PX")
        .arg(1500)
        .query(&mut conn)
        .expect("writes");
    let config = dir.path().join("sink.toml");
    std::fs::write(
        &config,
        "[[counters]]\npattern = \"a:*\"\ntable = \"ta\"\ninterval_ms = 50\n\
         [[counters]]\npattern = \"*:x\"\ntable = \"tx\"\ninterval_ms = 50\n",
    )
    .expect("config");
    let mut sink = Command::new(common::weir_bin())
        .args(["sink", "postgres", "--url", &node.url(), "--postgres", &pg.conn_string(), "--idle-exit-ms", "3000"])
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the sink");
    let table = |name: &str| pg.query(&format!("SELECT string_agg(key || '=' || value, ' ' ORDER BY key) FROM {name}"));
    let exists = || pg.query("SELECT count(*) FROM pg_tables WHERE tablename = 'ta'") == "1";
    let started = Instant::now();
    // The expiring key goes out while it lives, then its row goes.
    while !(exists() && table("ta").contains("a:ttl=soon")) {
        assert!(started.elapsed() < Duration::from_secs(30), "a:ttl never reached PostgreSQL");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = sink.wait().expect("the sink exits once idle");
    assert!(status.success(), "the sink failed: {status}");
    assert_eq!(table("ta"), "a:x=3 a:y=1", "the expired key's row is deleted");
    assert_eq!(table("tx"), "a:x=3 b:x={\"f\":\"1\"}");
    let pending: i64 = redis::cmd("CHANGES").arg("PENDING").query(&mut conn).expect("pending");
    assert_eq!(pending, 0, "both feeds drained");
}
