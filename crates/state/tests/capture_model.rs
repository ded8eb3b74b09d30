//! proptest: a snapshot captured in steps while batches of every kind of
//! write keep applying (`weir_state::capture`) loads as exactly the state
//! at the capture's start, whichever keys the writes touch, remove, expire,
//! create or flush, and whatever the step sizes.

use bytes::Bytes;
use proptest::prelude::*;
use weir_state::{BatchBuilder, Db};

/// Keys the writes pick from; the state also holds `FILLER` keys the writes
/// never name, so the walk takes many steps around them.
const KEYS: u8 = 24;
const FILLER: usize = 400;
/// Every batch's clock: deadlines set relative to it expire a few batches
/// later, under active expiry.
const START_MS: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Write {
    Set(u8, u8),
    SetPx(u8, u8),
    Incr(u8),
    Del(u8),
    Expire(u8, u16),
    Persist(u8),
    LPush(u8, u8),
    RPop(u8),
    HSet(u8, u8),
    SAdd(u8, u8),
    ZIncr(u8, u8),
    XAdd(u8, u8),
    Rename(u8, u8),
    Copy(u8, u8),
    ActiveExpire,
    FlushAll,
}

fn write() -> impl Strategy<Value = Write> {
    let key = 0..KEYS;
    prop_oneof![
        6 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Write::Set(k, v)),
        2 => (key.clone(), 1..250u8).prop_map(|(k, ms)| Write::SetPx(k, ms)),
        3 => key.clone().prop_map(Write::Incr),
        3 => key.clone().prop_map(Write::Del),
        3 => (key.clone(), 1..400u16).prop_map(|(k, ms)| Write::Expire(k, ms)),
        3 => key.clone().prop_map(Write::Persist),
        4 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Write::LPush(k, v)),
        2 => key.clone().prop_map(Write::RPop),
        3 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Write::HSet(k, v)),
        2 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Write::SAdd(k, v)),
        3 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Write::ZIncr(k, v)),
        2 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Write::XAdd(k, v)),
        1 => (key.clone(), key.clone()).prop_map(|(a, b)| Write::Rename(a, b)),
        1 => (key.clone(), key).prop_map(|(a, b)| Write::Copy(a, b)),
        1 => Just(Write::ActiveExpire),
        1 => Just(Write::FlushAll),
    ]
}

fn key(k: u8) -> String {
    format!("key:{k}")
}

fn command(write: &Write) -> Vec<String> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match write {
        Write::Set(k, v) => words(&["SET", &key(*k), &v.to_string()]),
        Write::SetPx(k, ms) => words(&["SET", &key(*k), "x", "PX", &ms.to_string()]),
        Write::Incr(k) => words(&["INCR", &key(*k)]),
        Write::Del(k) => words(&["DEL", &key(*k)]),
        Write::Expire(k, ms) => words(&["PEXPIRE", &key(*k), &ms.to_string()]),
        Write::Persist(k) => words(&["PERSIST", &key(*k)]),
        Write::LPush(k, v) => words(&["LPUSH", &key(*k), &v.to_string()]),
        Write::RPop(k) => words(&["RPOP", &key(*k)]),
        Write::HSet(k, v) => words(&["HSET", &key(*k), &(v % 8).to_string(), &v.to_string()]),
        Write::SAdd(k, v) => words(&["SADD", &key(*k), &v.to_string()]),
        Write::ZIncr(k, v) => words(&["ZINCRBY", &key(*k), "1.5", &(v % 16).to_string()]),
        Write::XAdd(k, v) => words(&["XADD", &key(*k), "*", "f", &v.to_string()]),
        Write::Rename(a, b) => words(&["RENAME", &key(*a), &key(*b)]),
        Write::Copy(a, b) => words(&["COPY", &key(*a), &key(*b), "REPLACE"]),
        Write::ActiveExpire | Write::FlushAll => unreachable!("not commands"),
    }
}

fn apply(db: &mut Db, clock: &mut u64, writes: &[Write]) {
    *clock += 7;
    let mut builder = BatchBuilder::new(*clock, *clock);
    for write in writes {
        match write {
            Write::ActiveExpire => builder.push_active_expire(16),
            Write::FlushAll => builder.push_flush(),
            _ => builder.push_command(&command(write).into_iter().map(Bytes::from).collect::<Vec<_>>()),
        }
    }
    db.apply_batch(&builder.finish()).expect("applies");
}

/// The writes before the capture, then rounds of (writes, step budget)
/// while it walks, then writes after the walk ends.
type Plan = (Vec<Vec<Write>>, Vec<(Vec<Write>, usize)>, Vec<Vec<Write>>);

fn plan() -> impl Strategy<Value = Plan> {
    let batch = || prop::collection::vec(write(), 0..8);
    (
        prop::collection::vec(batch(), 1..12),
        prop::collection::vec((batch(), 1usize..4096), 1..60),
        prop::collection::vec(batch(), 0..4),
    )
}

fn filled() -> Db {
    let mut db = Db::new();
    let mut builder = BatchBuilder::new(START_MS, 1);
    for i in 0..FILLER {
        let args = ["SET".to_string(), format!("filler:{i}"), "v".repeat(i % 50)];
        builder.push_command(&args.into_iter().map(Bytes::from).collect::<Vec<_>>());
    }
    db.apply_batch(&builder.finish()).expect("applies");
    db
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_capture_loads_as_the_state_at_its_start((before, during, after) in plan()) {
        let mut db = filled();
        let mut clock = START_MS;
        for writes in &before {
            apply(&mut db, &mut clock, writes);
        }
        let expected = db.clone();
        db.begin_capture();
        let mut done = false;
        for (writes, budget) in &during {
            apply(&mut db, &mut clock, writes);
            done = db.capture_step(*budget);
            if done {
                break;
            }
        }
        while !done {
            done = db.capture_step(1024);
        }
        for writes in &after {
            apply(&mut db, &mut clock, writes);
        }
        let loaded = Db::read_snapshot(&db.finish_capture().into_bytes()).expect("loads");
        prop_assert!(loaded == expected, "the capture is not the state at its start");
        let mut whole = Vec::new();
        expected.write_snapshot(&mut whole);
        prop_assert!(Db::read_snapshot(&whole).expect("loads") == expected);
    }
}
