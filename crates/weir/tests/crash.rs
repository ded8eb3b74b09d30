//! Fault test: kill -9 under load, restart, and check every acknowledged
//! write. Ten rounds on the same data folder, each killed at a different
//! moment.

mod common;

use rand::Rng;
use redis::Commands;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: usize = 32;
const ROUNDS: usize = 10;
const HOT_KEYS: usize = 4;

/// What the clients were told, and what may have happened without a reply.
#[derive(Default)]
struct Ledger {
    counter_acked: Vec<AtomicU64>,
    counter_inflight: Vec<AtomicU64>,
    field_acked: Vec<AtomicU64>,
    field_inflight: Vec<AtomicU64>,
    sets: Mutex<HashMap<String, String>>,
}

impl Ledger {
    fn new() -> Ledger {
        let zeros = |n| (0..n).map(|_| AtomicU64::new(0)).collect();
        Ledger {
            counter_acked: zeros(HOT_KEYS),
            counter_inflight: zeros(HOT_KEYS),
            field_acked: zeros(HOT_KEYS),
            field_inflight: zeros(HOT_KEYS),
            sets: Mutex::new(HashMap::new()),
        }
    }
}

fn client_loop(url: String, id: usize, round: usize, ledger: Arc<Ledger>, stop: Arc<AtomicBool>) {
    let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) else { return };
    let mut rng = rand::thread_rng();
    let mut n = 0u64;
    while !stop.load(SeqCst) {
        n += 1;
        let hot = rng.gen_range(0..HOT_KEYS);
        match rng.gen_range(0..3) {
            0 => {
                ledger.counter_inflight[hot].fetch_add(1, SeqCst);
                let r: redis::RedisResult<i64> = conn.incr(format!("counter:{hot}"), 1);
                if r.is_err() {
                    return;
                }
                ledger.counter_inflight[hot].fetch_sub(1, SeqCst);
                ledger.counter_acked[hot].fetch_add(1, SeqCst);
            }
            1 => {
                ledger.field_inflight[hot].fetch_add(1, SeqCst);
                let r: redis::RedisResult<i64> = conn.hincr("hash:{fields}", format!("f{hot}"), 1);
                if r.is_err() {
                    return;
                }
                ledger.field_inflight[hot].fetch_sub(1, SeqCst);
                ledger.field_acked[hot].fetch_add(1, SeqCst);
            }
            _ => {
                let key = format!("unique:{round}:{id}:{n}");
                let value = format!("v{round}-{id}-{n}");
                let r: redis::RedisResult<()> = conn.set(&key, &value);
                if r.is_err() {
                    return;
                }
                ledger.sets.lock().unwrap().insert(key, value);
            }
        }
    }
}

fn verify(node: &common::WeirNode, ledger: &Ledger, round: usize) {
    let mut conn = node.client();
    for hot in 0..HOT_KEYS {
        let value: Option<u64> = conn.get(format!("counter:{hot}")).expect("get counter");
        let (acked, inflight) = (ledger.counter_acked[hot].load(SeqCst), ledger.counter_inflight[hot].load(SeqCst));
        let value = value.unwrap_or(0);
        assert!(
            value >= acked && value <= acked + inflight,
            "round {round}: counter:{hot} = {value}, acked {acked}, in flight {inflight}"
        );
        let field: Option<u64> = conn.hget("hash:{fields}", format!("f{hot}")).expect("hget");
        let (acked, inflight) = (ledger.field_acked[hot].load(SeqCst), ledger.field_inflight[hot].load(SeqCst));
        let field = field.unwrap_or(0);
        assert!(
            field >= acked && field <= acked + inflight,
            "round {round}: field f{hot} = {field}, acked {acked}, in flight {inflight}"
        );
        // The in-flight increments are now settled one way or the other.
        ledger.counter_acked[hot].store(value, SeqCst);
        ledger.counter_inflight[hot].store(0, SeqCst);
        ledger.field_acked[hot].store(field, SeqCst);
        ledger.field_inflight[hot].store(0, SeqCst);
    }
    let sets = ledger.sets.lock().unwrap();
    let keys: Vec<&String> = sets.keys().collect();
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.get(*key);
        }
        let values: Vec<Option<String>> = pipe.query(&mut conn).expect("pipelined gets");
        for (key, value) in chunk.iter().zip(values) {
            assert_eq!(value.as_deref(), Some(sets[*key].as_str()), "round {round}: acknowledged SET {key} lost");
        }
    }
}

#[test]
fn every_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small snapshot interval and segments so rounds also cross snapshots,
    // purges and segment deletion.
    let flags = ["--snapshot-every", "200", "--segment-bytes", "262144"];
    let mut node = common::start_weir(dir.path(), &flags);
    let ledger = Arc::new(Ledger::new());
    let mut rng = rand::thread_rng();
    let mut acked_sets = 0;
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let (url, ledger, stop) = (node.url(), ledger.clone(), stop.clone());
                std::thread::spawn(move || client_loop(url, id, round, ledger, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..1500)));
        node.kill9();
        stop.store(true, SeqCst);
        for thread in threads {
            thread.join().expect("client thread");
        }
        node = node.restart();
        verify(&node, &ledger, round);
        let total = ledger.sets.lock().unwrap().len();
        assert!(total > acked_sets, "round {round} acknowledged no SET: the load did not run");
        acked_sets = total;
    }
    let counters: u64 = ledger.counter_acked.iter().map(|c| c.load(SeqCst)).sum();
    eprintln!("{ROUNDS} kill -9 rounds: {acked_sets} acknowledged SETs and {counters} INCRs all survived");
}
