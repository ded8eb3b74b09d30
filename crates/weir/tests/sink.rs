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
    for chunk in (0..ORDERS).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("XADD").arg("orders").arg("*").arg("order").arg(format!("o{i}")).arg("sku").arg(i % 97).ignore();
        }
        let _: () = pipe.query(&mut conn).expect("XADD");
    }
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
