//! `weir sink postgres` against a real PostgreSQL: 200,000 orders XADDed
//! and drained into a table, with the sink killed (kill -9) twice midway.
//! Exactly 200,000 rows, one per order, and nothing left pending.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORDERS: usize = 200_000;
const DEADLINE: Duration = Duration::from_secs(600);

fn sink(node: &common::WeirNode, pg: &common::postgres::Postgres, config: &std::path::Path) -> Child {
    Command::new(common::weir_bin())
        .args(["sink", "postgres", "--url", &node.url(), "--postgres", &pg.conn_string(), "--idle-exit-ms", "2000"])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn weir sink")
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
    for kill_at in [ORDERS / 4, ORDERS / 2] {
        let mut running = sink(&node, &pg, &config);
        wait_rows(&pg, kill_at, started);
        running.kill().expect("kill -9 the sink");
        running.wait().expect("reap");
    }
    let status = sink(&node, &pg, &config).wait().expect("the last sink");
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
    std::fs::write(
        &config,
        "[[counters]]\npattern = \"*:likes:*\"\ntable = \"likes\"\ninterval_ms = 100\nbatch = 10000\n",
    )
    .expect("config");
    let sink = Command::new(common::weir_bin())
        .args(["sink", "postgres", "--url", &node.url(), "--postgres", &pg.conn_string(), "--idle-exit-ms", "3000"])
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
}
