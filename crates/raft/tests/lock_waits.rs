//! A partition's state lock held elsewhere (a read-only script moved off
//! the runtime) never blocks a runtime thread: the partition's apply and a
//! snapshot's capture steps wait for it without blocking, so every other
//! task (other partitions' among them) keeps running. The runtime here has one worker, as a node's does.

mod common;

use common::{group_config, log_config, set, NODE};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use weir_raft::machine::{lock, SharedMachine};
use weir_raft::{start_group, Group};

/// How long the holder keeps the lock if nothing releases it (a blocked
/// runtime would only get going again after this).
const HOLD_AT_MOST: Duration = Duration::from_secs(10);
/// Time given to the runtime to reach the held lock before probing.
const SETTLE: Duration = Duration::from_millis(200);

async fn group(dir: &std::path::Path) -> Group {
    std::fs::create_dir_all(dir.join("snapshots")).expect("snapshot dir");
    let (log, mut recovered) = weir_raft::wal::open(log_config(dir), 1).expect("log opens");
    let group = start_group(0, &group_config(dir), log, recovered.remove(0)).await.expect("group starts");
    group.wait_ready(NODE, Duration::from_secs(10)).await.expect("ready");
    group
}

/// Holds the partition's lock on a thread of its own until released (or
/// `HOLD_AT_MOST`); `released` turns true just before it lets go.
struct Holder {
    release: mpsc::Sender<()>,
    released: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn hold(machine: SharedMachine) -> Holder {
    let (held_tx, held_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let released = Arc::new(AtomicBool::new(false));
    let flag = released.clone();
    let thread = std::thread::spawn(move || {
        let guard = lock(&machine);
        held_tx.send(()).expect("test waits");
        let _ = release_rx.recv_timeout(HOLD_AT_MOST);
        flag.store(true, Ordering::SeqCst);
        drop(guard);
    });
    held_rx.recv().expect("lock taken");
    Holder { release, released, thread }
}

impl Holder {
    /// Whether a freshly spawned task runs while the lock is still held.
    async fn runtime_runs_while_held(&self) -> bool {
        std::thread::sleep(SETTLE);
        let released = self.released.clone();
        tokio::spawn(async move { !released.load(Ordering::SeqCst) }).await.expect("probe joins")
    }

    fn release(self) {
        self.release.send(()).expect("holder waits");
        self.thread.join().expect("holder joins");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_apply_waiting_for_the_lock_leaves_the_runtime_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = group(dir.path()).await;
    let holder = hold(group.machine.clone());
    let raft = group.raft.clone();
    let write = tokio::spawn(async move { raft.client_write(set("k")).await });
    let ran = holder.runtime_runs_while_held().await;
    assert!(!write.is_finished(), "the write cannot apply while the lock is held");
    holder.release();
    assert!(ran, "a task ran while the apply waited for the lock");
    write.await.expect("joins").expect("the write applies once the lock is free");
    group.raft.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_snapshot_waiting_for_the_lock_leaves_the_runtime_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = group(dir.path()).await;
    group.raft.client_write(set("k")).await.expect("write");
    let holder = hold(group.machine.clone());
    group.raft.trigger().snapshot().await.expect("snapshot triggered");
    let ran = holder.runtime_runs_while_held().await;
    holder.release();
    assert!(ran, "a task ran while the snapshot waited for the lock");
    let built = |m: &openraft::RaftMetrics<u64, openraft::BasicNode>| m.snapshot.is_some();
    group.raft.wait(Some(Duration::from_secs(10))).metrics(built, "snapshot built").await.expect("snapshot");
    group.raft.shutdown().await.expect("shutdown");
}
