//! A snapshot is captured in steps while the partition keeps applying
//! writes (`weir_state::capture`). Whatever those writes do, the snapshot
//! holds exactly the state at its log index: after the log behind it is
//! purged and the group restarts from it, replaying the rest gives the
//! same state as replaying every write into an empty one. The writes are
//! not idempotent (INCR, RPUSH, APPEND), so a write the snapshot took in
//! too early would count twice, and one it missed would be lost.

mod common;

use bytes::Bytes;
use common::{group_config, log_config, set, NODE};
use std::time::Duration;
use weir_raft::{start_group, Group, Request};
use weir_state::{BatchBuilder, Db};

/// Large values: the capture takes many steps.
const BIG_KEYS: usize = 2000;
const BIG_VALUE: usize = 2048;
const COUNTERS: usize = 64;
/// Writes at least this many batches after the snapshot is asked for.
const WRITES_DURING: usize = 200;

async fn open(dir: &std::path::Path) -> Group {
    std::fs::create_dir_all(dir.join("snapshots")).expect("snapshot dir");
    let config = weir_raft::GroupConfig { keep_behind_snapshot: 0, ..group_config(dir) };
    let (log, mut recovered) = weir_raft::wal::open(log_config(dir), 1).expect("log opens");
    let group = start_group(0, &config, log, recovered.remove(0)).await.expect("group starts");
    group.wait_ready(NODE, Duration::from_secs(10)).await.expect("ready");
    group
}

fn batch(n: usize, commands: &[Vec<String>]) -> Bytes {
    let mut builder = BatchBuilder::new(1_000 + n as u64, n as u64);
    for command in commands {
        builder.push_command(&command.iter().map(|w| Bytes::from(w.clone())).collect::<Vec<_>>());
    }
    builder.finish()
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// The n-th write after the snapshot is asked for: not idempotent, on keys
/// spread over the whole keyspace.
fn write_during(n: usize) -> Vec<Vec<String>> {
    let big = format!("big:{}", (n * 7919) % BIG_KEYS);
    let counter = format!("c:{}", n % COUNTERS);
    let list = format!("l:{}", n % 16);
    let third = match n % 3 {
        0 => words(&["DEL", &big]),
        1 => words(&["APPEND", &big, "+"]),
        _ => words(&["SET", &big, &n.to_string()]),
    };
    vec![words(&["INCR", &counter]), words(&["RPUSH", &list, &n.to_string()]), third]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_snapshot_captured_under_writes_restores_the_state_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = open(dir.path()).await;
    let first = set("first");
    let mut written = vec![first.0.clone()];
    group.raft.client_write(first).await.expect("write");
    let value = "v".repeat(BIG_VALUE);
    for chunk in 0..BIG_KEYS / 100 {
        let sets: Vec<_> = (0..100).map(|i| words(&["SET", &format!("big:{}", chunk * 100 + i), &value])).collect();
        let incrs: Vec<_> = (0..COUNTERS).map(|c| words(&["INCR", &format!("c:{c}")])).collect();
        written.push(batch(written.len(), &[sets, incrs].concat()));
        group.raft.client_write(Request(written.last().expect("just pushed").clone())).await.expect("write");
    }

    group.raft.trigger().snapshot().await.expect("snapshot asked for");
    let mut during = 0;
    let snapshot = loop {
        written.push(batch(written.len(), &write_during(during)));
        group.raft.client_write(Request(written.last().expect("just pushed").clone())).await.expect("write");
        during += 1;
        let metrics = group.raft.metrics().borrow().clone();
        if let Some(snapshot) = metrics.snapshot.filter(|_| during >= WRITES_DURING) {
            break snapshot;
        }
        assert!(during < 100_000, "the snapshot never finished");
    };
    let last = group.raft.metrics().borrow().last_applied.expect("applied").index;
    assert!(snapshot.index < last, "writes went on after the snapshot's index ({} < {last})", snapshot.index);
    let purged = |m: &openraft::RaftMetrics<u64, openraft::BasicNode>| m.purged >= Some(snapshot);
    group.raft.wait(Some(Duration::from_secs(10))).metrics(purged, "log purged").await.expect("purged");
    group.raft.shutdown().await.expect("shutdown");
    drop(group);

    let restarted = open(dir.path()).await;
    let mut replayed = Db::new();
    for bytes in &written {
        replayed.apply_batch(bytes).expect("replays");
    }
    let state = weir_raft::machine::lock(&restarted.machine).db.clone();
    assert_eq!(state.len(), replayed.len(), "as many keys as replaying every write");
    assert!(state == replayed, "the restarted state is every write's, each once");
    restarted.raft.shutdown().await.expect("shutdown");
}
