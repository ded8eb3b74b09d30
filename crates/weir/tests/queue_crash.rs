//! Fault test for the task-queue pattern: 8 producers RPUSH unique items
//! while 8 consumers BRPOP them, and the node is killed with kill -9 at a
//! random moment, several rounds on the same data folder.
//!
//! After each restart, every acknowledged push is either popped with an
//! acknowledged reply or still in the list; no item is popped twice or is
//! both popped and listed. An item may vanish only to a pop that was in
//! flight at the kill (its wake-up was logged but the reply never arrived),
//! and the test reports which items did.

mod common;

use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PRODUCERS: usize = 8;
const CONSUMERS: usize = 8;
const ROUNDS: usize = 5;
const QUEUE: &str = "jobs";

/// What the clients were told, and what was sent without a reply.
#[derive(Default)]
struct Ledger {
    pushed: HashSet<String>,
    push_in_flight: HashSet<String>,
    /// Item → the consumer whose BRPOP reply carried it.
    popped: HashMap<String, usize>,
    popped_twice: Vec<String>,
    /// BRPOPs that were sent and never answered, this round.
    pops_in_flight: usize,
    lost_to_pops: Vec<String>,
}

fn connect(url: &str) -> Option<redis::Connection> {
    redis::Client::open(url).and_then(|c| c.get_connection()).ok()
}

fn producer(url: String, id: usize, round: usize, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let Some(mut conn) = connect(&url) else { return };
    let mut n = 0u64;
    while !stop.load(SeqCst) {
        n += 1;
        let item = format!("r{round}-p{id}-{n}");
        ledger.lock().unwrap().push_in_flight.insert(item.clone());
        let reply: redis::RedisResult<i64> = redis::cmd("RPUSH").arg(QUEUE).arg(&item).query(&mut conn);
        if reply.is_err() {
            return; // the kill: this push stays in flight
        }
        let mut ledger = ledger.lock().unwrap();
        ledger.push_in_flight.remove(&item);
        ledger.pushed.insert(item);
    }
}

fn consumer(url: String, id: usize, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let Some(mut conn) = connect(&url) else { return };
    while !stop.load(SeqCst) {
        let reply: redis::RedisResult<Option<(String, String)>> =
            redis::cmd("BRPOP").arg(QUEUE).arg(1).query(&mut conn);
        let mut ledger = ledger.lock().unwrap();
        match reply {
            Ok(Some((key, item))) => {
                assert_eq!(key, QUEUE);
                if ledger.popped.insert(item.clone(), id).is_some() {
                    ledger.popped_twice.push(item);
                }
            }
            Ok(None) => {} // timed out on an empty list
            Err(_) => {
                ledger.pops_in_flight += 1;
                return;
            }
        }
    }
}

/// Checks the restarted node against the ledger and settles what was in
/// flight, so the next round starts from known facts.
fn verify(conn: &mut redis::Connection, ledger: &mut Ledger, round: usize) -> Vec<String> {
    assert!(ledger.popped_twice.is_empty(), "round {round}: popped twice: {:?}", ledger.popped_twice);
    let list: Vec<String> = redis::cmd("LRANGE").arg(QUEUE).arg(0).arg(-1).query(conn).expect("LRANGE");
    let listed: HashSet<&String> = list.iter().collect();
    assert_eq!(listed.len(), list.len(), "round {round}: an item is in the list twice");
    for item in &list {
        assert!(!ledger.popped.contains_key(item), "round {round}: {item} was popped and is still listed");
        assert!(
            ledger.pushed.contains(item) || ledger.push_in_flight.contains(item),
            "round {round}: {item} in the list was never pushed"
        );
    }
    for item in ledger.popped.keys() {
        assert!(
            ledger.pushed.contains(item) || ledger.push_in_flight.contains(item),
            "round {round}: popped {item} was never pushed"
        );
    }
    let already_lost: HashSet<&String> = ledger.lost_to_pops.iter().collect();
    let mut missing: Vec<String> = ledger
        .pushed
        .iter()
        .filter(|i| !ledger.popped.contains_key(*i) && !listed.contains(i) && !already_lost.contains(i))
        .cloned()
        .collect();
    missing.sort();
    assert!(
        missing.len() <= ledger.pops_in_flight,
        "round {round}: {} acknowledged pushes are gone but only {} pops were in flight: {missing:?}",
        missing.len(),
        ledger.pops_in_flight
    );
    // Settle: an in-flight push that reached the log is now a fact.
    let landed: Vec<String> = ledger
        .push_in_flight
        .iter()
        .filter(|i| listed.contains(i) || ledger.popped.contains_key(*i))
        .cloned()
        .collect();
    ledger.pushed.extend(landed);
    ledger.push_in_flight.clear();
    ledger.pops_in_flight = 0;
    ledger.lost_to_pops.extend(missing.iter().cloned());
    missing
}

/// Pops everything left with plain RPOP so the final tally covers every item.
fn drain(conn: &mut redis::Connection, ledger: &mut Ledger) {
    loop {
        let item: Option<String> = redis::cmd("RPOP").arg(QUEUE).query(conn).expect("RPOP");
        let Some(item) = item else { break };
        assert!(ledger.popped.insert(item.clone(), usize::MAX).is_none(), "drained {item} was already popped");
    }
}

#[test]
fn queue_survives_kill_9_without_double_or_lost_pops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &["--snapshot-every", "200", "--segment-bytes", "262144"]);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut rng = rand::thread_rng();
    let mut pushed_before = 0;
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for id in 0..PRODUCERS {
            let (url, ledger, stop) = (node.url(), ledger.clone(), stop.clone());
            threads.push(std::thread::spawn(move || producer(url, id, round, ledger, stop)));
        }
        for id in 0..CONSUMERS {
            let (url, ledger, stop) = (node.url(), ledger.clone(), stop.clone());
            threads.push(std::thread::spawn(move || consumer(url, id, ledger, stop)));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
        node.kill9();
        stop.store(true, SeqCst);
        for thread in threads {
            thread.join().expect("client thread");
        }
        node = node.restart();
        let mut ledger = ledger.lock().unwrap();
        let (pushed, popped, in_flight) = (ledger.pushed.len(), ledger.popped.len(), ledger.pops_in_flight);
        let lost = verify(&mut node.client(), &mut ledger, round);
        eprintln!(
            "round {round}: {pushed} pushes and {popped} pops acknowledged so far; {in_flight} pops in flight at the \
             kill took {} items: {lost:?}",
            lost.len()
        );
        assert!(pushed > pushed_before, "round {round} acknowledged no push: the load did not run");
        pushed_before = pushed;
    }
    let mut ledger = ledger.lock().unwrap();
    drain(&mut node.client(), &mut ledger);
    let lost: HashSet<&String> = ledger.lost_to_pops.iter().collect();
    for item in &ledger.pushed {
        assert!(ledger.popped.contains_key(item) || lost.contains(item), "acknowledged push {item} vanished");
    }
    let by_consumers = ledger.popped.values().filter(|c| **c != usize::MAX).count();
    assert!(by_consumers > 0, "the consumers popped nothing: the load did not run");
    eprintln!(
        "{ROUNDS} kill -9 rounds: {} acknowledged pushes; {by_consumers} popped by BRPOP, {} drained after, {} lost \
         to pops in flight at a kill; none popped twice",
        ledger.pushed.len(),
        ledger.popped.len() - by_consumers,
        ledger.lost_to_pops.len()
    );
}
