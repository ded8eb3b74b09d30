//! The worker pattern end to end: 100k orders in a stream, 4 worker
//! processes in one consumer group (two of the Rust `order-worker`, two of
//! the redis-py `python/order_worker.py`), one killed with kill -9 midway. Every order is processed at least once, nothing is left
//! pending, and nothing reached the dead-letter stream.

#[path = "../../crates/weir/tests/common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORDERS: usize = 100_000;
const WORKERS: usize = 4;
const DEADLINE: Duration = Duration::from_secs(600);

/// A worker process: the Rust example for even names' indexes, the
/// Python one (redis-py) for odd ones, sharing the group.
fn worker(url: &str, index: usize) -> Child {
    let flags = ["--url", url, "--claim-idle-ms", "1000", "--idle-exit-ms", "3000", "--name"];
    let name = format!("w{index}");
    let mut command = match index % 2 {
        0 => Command::new(env!("CARGO_BIN_EXE_order-worker")),
        _ => {
            let mut python = Command::new("python3");
            python.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/python/order_worker.py"));
            python
        }
    };
    command.args(flags).arg(name).stdout(Stdio::null()).spawn().expect("spawn a worker")
}

/// Entries pending for one consumer.
fn pending_of(conn: &mut redis::Connection, consumer: &str) -> usize {
    let entries: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg("orders")
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(10_000)
        .arg(consumer)
        .query(conn)
        .expect("XPENDING");
    entries.len()
}

fn hlen(conn: &mut redis::Connection) -> usize {
    redis::cmd("HLEN").arg("orders:processed").query(conn).expect("HLEN")
}

#[test]
fn four_workers_process_every_order_despite_a_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    common::create_group(&mut conn, "orders", "workers");
    common::add_orders(&mut conn, "orders", ORDERS, |_| Vec::new());
    let url = node.url();
    let mut workers: Vec<Child> = (0..WORKERS).map(|i| worker(&url, i)).collect();
    let started = Instant::now();
    while hlen(&mut conn) < ORDERS / 5 {
        assert!(started.elapsed() < DEADLINE, "workers made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    // kill -9 at a moment the worker holds delivered, unacknowledged
    // entries (frozen with SIGSTOP until it does), so the others must
    // claim them.
    let victim = workers[0].id() as libc::pid_t;
    let mut held = 0;
    for _ in 0..1000 {
        // SAFETY: signals to our own child process.
        unsafe { libc::kill(victim, libc::SIGSTOP) };
        std::thread::sleep(Duration::from_millis(5));
        held = pending_of(&mut conn, "w0");
        if held > 0 {
            break;
        }
        // SAFETY: as above.
        unsafe { libc::kill(victim, libc::SIGCONT) };
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(held > 0, "never caught the worker holding entries");
    workers[0].kill().expect("kill worker");
    workers[0].wait().expect("reap worker");
    for w in &mut workers[1..] {
        let status = loop {
            if let Some(status) = w.try_wait().expect("worker status") {
                break status;
            }
            assert!(started.elapsed() < DEADLINE, "workers did not finish");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "a worker failed: {status}");
    }
    // Both kinds joined the group and read from it.
    let consumers: redis::Value =
        redis::cmd("XINFO").arg("CONSUMERS").arg("orders").arg("workers").query(&mut conn).expect("XINFO");
    for name in ["w1", "w2", "w3"] {
        assert!(format!("{consumers:?}").contains(&format!("\"{name}\"")), "{name} never read: {consumers:?}");
    }
    assert_eq!(hlen(&mut conn), ORDERS, "every order processed at least once");
    let summary: redis::Value = redis::cmd("XPENDING").arg("orders").arg("workers").query(&mut conn).expect("XPENDING");
    assert!(format!("{summary:?}").starts_with("array([int(0)"), "nothing left pending: {summary:?}");
    let dead: usize = redis::cmd("XLEN").arg("orders:dead").query(&mut conn).expect("XLEN");
    assert_eq!(dead, 0, "no order was delivered too often");
    let counts: Vec<i64> = redis::cmd("HVALS").arg("orders:processed").query(&mut conn).expect("HVALS");
    let again = counts.iter().filter(|n| **n > 1).count();
    eprintln!(
        "{ORDERS} orders processed by {WORKERS} workers in {:.1?}; the killed worker held {held}; {again} processed twice",
        started.elapsed()
    );
}

#[test]
fn an_entry_delivered_too_often_goes_to_the_dead_letter_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &[]);
    let mut conn = node.client();
    common::create_group(&mut conn, "orders", "workers");
    let poison: String =
        redis::cmd("XADD").arg("orders").arg("*").arg("order").arg("poison").query(&mut conn).expect("xadd");
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("crashed")
        .arg("STREAMS")
        .arg("orders")
        .arg(">")
        .query(&mut conn)
        .expect("read");
    // As if it had been delivered and crashed its worker five times.
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg("orders")
        .arg("workers")
        .arg("crashed")
        .arg(0)
        .arg(&poison)
        .arg("RETRYCOUNT")
        .arg(5)
        .query(&mut conn)
        .expect("claim");
    let status = Command::new(env!("CARGO_BIN_EXE_order-worker"))
        .args(["--url", &node.url(), "--name", "w", "--claim-idle-ms", "0", "--idle-exit-ms", "500"])
        .stdout(Stdio::null())
        .status()
        .expect("run order-worker");
    assert!(status.success());
    let dead: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg("orders:dead").arg("-").arg("+").query(&mut conn).expect("xrange");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1[..2], ["id".to_string(), poison]);
    let processed: usize = redis::cmd("HLEN").arg("orders:processed").query(&mut conn).expect("hlen");
    assert_eq!(processed, 0, "a dead-lettered order is not processed");
    assert_eq!(pending_of(&mut conn, "crashed") + pending_of(&mut conn, "w"), 0);
}
