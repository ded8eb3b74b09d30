//! Fault test for streams: producers XADD while consumers XREADGROUP and
//! XACK (leaving some entries unacknowledged), and the node is killed with
//! kill -9. After the restart every acknowledged XADD is in the stream,
//! no acknowledged entry is pending, and every delivered, unacknowledged
//! entry is pending with the consumer it was delivered to. Replies lost to
//! the kill (an XADD, XREADGROUP or XACK in flight) may have taken effect
//! or not, and the checks allow exactly that.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STREAM: &str = "orders";
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
/// Consumers leave one delivered entry in this many unacknowledged.
const LEAVE_PENDING_EVERY: usize = 3;

#[derive(Default)]
struct Ledger {
    added: HashSet<String>,
    /// Entry → the consumer whose XREADGROUP reply carried it.
    delivered: HashMap<String, String>,
    acked: HashSet<String>,
    /// Entries whose XACK was sent but never answered.
    ack_in_flight: HashSet<String>,
    reads_in_flight: usize,
}

fn producer(url: String, id: usize, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else { return };
    let mut n = 0;
    while !stop.load(SeqCst) {
        n += 1;
        let reply: redis::RedisResult<String> =
            redis::cmd("XADD").arg(STREAM).arg("*").arg("order").arg(format!("p{id}-{n}")).query(&mut conn);
        match reply {
            Ok(entry) => ledger.lock().unwrap().added.insert(entry),
            Err(_) => return, // the kill: this XADD stays in flight
        };
    }
}

type Entries = Vec<(String, Vec<(String, Vec<String>)>)>;

fn consumer(url: String, name: String, ledger: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else { return };
    let mut seen = 0usize;
    while !stop.load(SeqCst) {
        let reply: redis::RedisResult<Option<Entries>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg(&name)
            .arg("COUNT")
            .arg(20)
            .arg("BLOCK")
            .arg(100)
            .arg("STREAMS")
            .arg(STREAM)
            .arg(">")
            .query(&mut conn);
        let entries = match reply {
            Ok(Some(streams)) => streams.into_iter().flat_map(|(_, e)| e).map(|(id, _)| id).collect::<Vec<_>>(),
            Ok(None) => continue,
            Err(_) => {
                ledger.lock().unwrap().reads_in_flight += 1;
                return;
            }
        };
        let mut to_ack = Vec::new();
        {
            let mut ledger = ledger.lock().unwrap();
            for id in entries {
                seen += 1;
                ledger.delivered.insert(id.clone(), name.clone());
                if !seen.is_multiple_of(LEAVE_PENDING_EVERY) {
                    to_ack.push(id);
                }
            }
            ledger.ack_in_flight.extend(to_ack.iter().cloned());
        }
        if to_ack.is_empty() {
            continue;
        }
        let acked: redis::RedisResult<i64> = redis::cmd("XACK").arg(STREAM).arg("g").arg(&to_ack).query(&mut conn);
        let mut ledger = ledger.lock().unwrap();
        match acked {
            Ok(n) => {
                assert_eq!(n as usize, to_ack.len(), "every delivered entry acknowledges once");
                for id in to_ack {
                    ledger.ack_in_flight.remove(&id);
                    ledger.acked.insert(id);
                }
            }
            Err(_) => return, // stays in flight
        }
    }
}

#[test]
fn streams_and_groups_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &["--snapshot-every", "300"]);
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(STREAM)
        .arg("g")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut node.client())
        .expect("group");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for id in 0..PRODUCERS {
        let (url, ledger, stop) = (node.url(), ledger.clone(), stop.clone());
        threads.push(std::thread::spawn(move || producer(url, id, ledger, stop)));
    }
    for id in 0..CONSUMERS {
        let (url, ledger, stop) = (node.url(), ledger.clone(), stop.clone());
        threads.push(std::thread::spawn(move || consumer(url, format!("c{id}"), ledger, stop)));
    }
    std::thread::sleep(Duration::from_millis(1500));
    node.kill9();
    stop.store(true, SeqCst);
    for t in threads {
        t.join().expect("client thread");
    }
    node = node.restart();
    let mut conn = node.client();
    let ledger = ledger.lock().unwrap();
    assert!(
        ledger.added.len() > 100 && ledger.acked.len() > 50,
        "the load ran: {} added, {} acked",
        ledger.added.len(),
        ledger.acked.len()
    );

    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg(STREAM).arg("-").arg("+").query(&mut conn).expect("xrange");
    let present: HashSet<String> = entries.into_iter().map(|(id, _)| id).collect();
    let lost: Vec<&String> = ledger.added.iter().filter(|id| !present.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged XADDs lost: {lost:?}");

    let pel: Vec<(String, String, i64, i64)> = redis::cmd("XPENDING")
        .arg(STREAM)
        .arg("g")
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query(&mut conn)
        .expect("xpending");
    let pending: HashMap<String, String> = pel.into_iter().map(|(id, consumer, _, _)| (id, consumer)).collect();
    for id in &ledger.acked {
        assert!(!pending.contains_key(id), "{id} was acknowledged but is pending");
    }
    for (id, consumer) in &ledger.delivered {
        if ledger.acked.contains(id) || ledger.ack_in_flight.contains(id) {
            continue;
        }
        assert_eq!(pending.get(id), Some(consumer), "{id} was delivered to {consumer}, never acknowledged");
    }
    let unknown: Vec<&String> = pending.keys().filter(|id| !ledger.delivered.contains_key(*id)).collect();
    assert!(
        unknown.len() <= ledger.reads_in_flight * 20,
        "{} pending entries no reply delivered, {} reads in flight",
        unknown.len(),
        ledger.reads_in_flight
    );
    for id in pending.keys() {
        assert!(present.contains(id), "pending {id} is not in the stream");
    }
    eprintln!(
        "{} added, {} delivered, {} acked, {} pending ({} from reads lost to the kill)",
        ledger.added.len(),
        ledger.delivered.len(),
        ledger.acked.len(),
        pending.len(),
        unknown.len()
    );
}
