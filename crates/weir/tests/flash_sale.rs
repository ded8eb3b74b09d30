//! The flash-sale acceptance test: 10,000 distinct buyers, some retrying
//! the same request, compete for 1,000 units through the recipe script in
//! `examples/flash-sale/flash_sale.lua`, and the node is killed with kill -9
//! in the middle and restarted.
//!
//! Afterwards: orders = units sold, stock never negative, no buyer twice,
//! every "ok" has an order, every "duplicate" has an order, and an order
//! without an "ok" belongs to a buyer whose request was in flight at the
//! kill (its reply was lost; the retry then answered "duplicate").

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

const SCRIPT: &str = include_str!("../../../examples/flash-sale/flash_sale.lua");
const BUYERS: u64 = 10_000;
const UNITS: i64 = 1_000;
const THREADS: usize = 50;
/// Buyers served before the kill: about half the units are sold by then,
/// so the requests in flight are purchases.
const KILL_AFTER: u64 = 500;
/// One buyer in this many sends the same request twice (a double click).
const DOUBLE_CLICK_EVERY: u64 = 7;
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(60);

fn key(what: &str) -> String {
    format!("{{sale:t}}:{what}")
}

/// What each buyer was told, and whether a request of theirs was lost to
/// the kill.
#[derive(Default)]
struct Buyer {
    statuses: Vec<String>,
    in_flight: bool,
}

fn connect(url: &RwLock<String>) -> redis::Connection {
    let deadline = Instant::now() + RECONNECT_TIMEOUT;
    loop {
        let url = url.read().unwrap().clone();
        if let Ok(conn) = redis::Client::open(url).and_then(|c| c.get_connection()) {
            return conn;
        }
        assert!(Instant::now() < deadline, "the node did not come back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One purchase request, retried with the same request id until it gets
/// a reply: a reply lost to the kill is not a purchase lost.
fn buy(conn: &mut redis::Connection, url: &RwLock<String>, user: u64, buyer: &mut Buyer) -> String {
    let script = redis::Script::new(SCRIPT);
    loop {
        let mut call = script.prepare_invoke();
        call.key(key("stock")).key(key(&format!("buyer:{user}"))).key(key("orders"));
        match call.arg(user).arg(1).arg(format!("req-{user}")).invoke::<String>(conn) {
            Ok(status) => return status,
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => {
                buyer.in_flight = true;
                *conn = connect(url);
            }
            Err(e) => panic!("buyer {user}: {e}"),
        }
    }
}

fn shopper(url: Arc<RwLock<String>>, next: Arc<AtomicU64>, done: Arc<AtomicU64>) -> HashMap<u64, Buyer> {
    let mut conn = connect(&url);
    let mut seen = HashMap::new();
    loop {
        let user = next.fetch_add(1, SeqCst);
        if user >= BUYERS {
            return seen;
        }
        let mut buyer = Buyer::default();
        let clicks = if user.is_multiple_of(DOUBLE_CLICK_EVERY) { 2 } else { 1 };
        for _ in 0..clicks {
            let status = buy(&mut conn, &url, user, &mut buyer);
            buyer.statuses.push(status);
        }
        seen.insert(user, buyer);
        done.fetch_add(1, SeqCst);
    }
}

/// (stock left, user → orders) as the node holds them.
fn sale_state(conn: &mut redis::Connection) -> (i64, HashMap<u64, usize>) {
    let stock: i64 = redis::cmd("GET").arg(key("stock")).query(conn).expect("GET stock");
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg(key("orders")).arg("-").arg("+").query(conn).expect("XRANGE");
    let orders: Vec<String> = entries.into_iter().map(|(_, fields)| fields[1].clone()).collect();
    let mut by_user = HashMap::new();
    for order in &orders {
        let mut fields = order.split(':');
        let user: u64 = fields.next().and_then(|u| u.parse().ok()).expect("user id in the order");
        assert_eq!(fields.next(), Some("1"), "quantity in {order}");
        assert_eq!(fields.next(), Some(format!("req-{user}").as_str()), "request id in {order}");
        *by_user.entry(user).or_insert(0) += 1;
    }
    (stock, by_user)
}

fn check(buyers: &HashMap<u64, Buyer>, stock: i64, orders: &HashMap<u64, usize>) {
    assert!(stock >= 0, "stock went negative: {stock}");
    let sold = orders.values().sum::<usize>() as i64;
    assert_eq!(sold, UNITS - stock, "orders = units sold");
    assert_eq!(stock, 0, "10,000 buyers for 1,000 units sell out");
    let twice: Vec<_> = orders.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "buyers with more than one order: {twice:?}");
    for (user, buyer) in buyers {
        let has_order = orders.contains_key(user);
        let ok = buyer.statuses.iter().filter(|s| *s == "ok").count();
        assert!(ok <= 1, "buyer {user} was told ok {ok} times");
        assert!(buyer.statuses.iter().all(|s| ["ok", "sold_out", "duplicate"].contains(&s.as_str())), "{user}");
        if ok == 1 || buyer.statuses.iter().any(|s| s == "duplicate") {
            assert!(has_order, "buyer {user} was told {:?} but has no order", buyer.statuses);
        }
        if has_order && ok == 0 {
            assert!(buyer.in_flight, "buyer {user} has an order but was never told ok: {:?}", buyer.statuses);
        }
    }
    let phantom: Vec<_> = orders.keys().filter(|u| !buyers.contains_key(u)).collect();
    assert!(phantom.is_empty(), "orders from nobody: {phantom:?}");
}

#[test]
fn flash_sale_survives_kill_9_with_exact_orders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &[]);
    let _: () = redis::cmd("SET").arg(key("stock")).arg(UNITS).query(&mut node.client()).expect("stock");
    let url = Arc::new(RwLock::new(node.url()));
    let (next, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let shoppers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (url, next, done) = (url.clone(), next.clone(), done.clone());
            std::thread::spawn(move || shopper(url, next, done))
        })
        .collect();
    // Watch the stock while the sale runs; kill -9 once KILL_AFTER buyers are served.
    let lowest = Arc::new(Mutex::new(UNITS));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (url, lowest, stop) = (url.clone(), lowest.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut conn = connect(&url);
            while !stop.load(SeqCst) {
                match redis::cmd("GET").arg(key("stock")).query::<i64>(&mut conn) {
                    Ok(stock) => {
                        let mut lowest = lowest.lock().unwrap();
                        *lowest = stock.min(*lowest);
                    }
                    Err(_) => conn = connect(&url),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    while done.load(SeqCst) < KILL_AFTER {
        std::thread::sleep(Duration::from_millis(5));
    }
    node = node.restart();
    *url.write().unwrap() = node.url();
    let mut buyers = HashMap::new();
    for shopper in shoppers {
        buyers.extend(shopper.join().expect("shopper"));
    }
    stop.store(true, SeqCst);
    watcher.join().expect("watcher");
    assert_eq!(buyers.len() as u64, BUYERS);
    assert!(*lowest.lock().unwrap() >= 0, "stock was seen negative");
    let in_flight = buyers.values().filter(|b| b.in_flight).count();
    assert!(in_flight > 0, "the kill interrupted no request: the test proved nothing");

    let (stock, orders) = sale_state(&mut node.client());
    check(&buyers, stock, &orders);
    let users: HashSet<u64> = orders.keys().copied().collect();
    // Acknowledged means durable: the same state after another kill -9.
    node = node.restart();
    let (stock_again, orders_again) = sale_state(&mut node.client());
    assert_eq!((stock_again, orders_again.keys().copied().collect::<HashSet<_>>()), (stock, users));
    let lost_replies = orders.keys().filter(|u| buyers[u].statuses.iter().all(|s| s != "ok")).count();
    eprintln!(
        "{} orders; {in_flight} requests were in flight at the kill; {lost_replies} orders whose ok was lost to it",
        orders.len()
    );
}
