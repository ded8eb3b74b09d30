//! Snapshots on demand: SAVE, BGSAVE and LASTSAVE.
//!
//! Every acknowledged write is already durable in the log, so these make
//! nothing safer: they are save points. Each partition writes a snapshot of
//! its state (and the log behind it can be released), which is what a
//! backup of the data folder, or a tool that waits for LASTSAVE to move
//! after a BGSAVE, expects.

use super::{is, syntax_error, ServerCommand};
use crate::node::Node;
use crate::partition::Partition;
use bytes::Bytes;
use std::sync::atomic::Ordering::Acquire;
use std::time::Duration;
use tokio::time::Instant;
use weir_protocol::Frame;

/// How long SAVE waits for one partition's snapshot.
const SAVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often SAVE looks whether the snapshot is written.
const SAVE_POLL: Duration = Duration::from_millis(2);

pub async fn run(node: &Node, command: ServerCommand, args: &[Bytes]) -> Frame {
    match command {
        ServerCommand::Save => save(node).await,
        ServerCommand::Bgsave => bgsave(node, &args[1..]).await,
        _ => Frame::Integer(last_save(node) as i64),
    }
}

/// Every partition writes a snapshot holding at least what it had applied
/// when SAVE arrived; OK once all are written.
pub async fn save(node: &Node) -> Frame {
    for partition in &node.partitions {
        if let Err(reason) = save_partition(partition).await {
            return Frame::error(format!("ERR snapshot of partition {} failed: {reason}", partition.id));
        }
    }
    Frame::ok()
}

async fn save_partition(partition: &Partition) -> Result<(), String> {
    let applied = partition.applied_index.load(Acquire);
    let deadline = Instant::now() + SAVE_TIMEOUT;
    loop {
        let written = partition.saves.count.load(Acquire);
        // A trigger while a snapshot is being built is dropped: that one
        // completes (perhaps short of `applied`), and the loop asks again.
        partition.raft.trigger().snapshot().await.map_err(|e| e.to_string())?;
        while partition.saves.count.load(Acquire) == written {
            if Instant::now() >= deadline {
                return Err(format!("no snapshot within {} s", SAVE_TIMEOUT.as_secs()));
            }
            tokio::time::sleep(SAVE_POLL).await;
        }
        if partition.saves.index.load(Acquire) >= applied {
            return Ok(());
        }
    }
}

/// Asks every partition for a snapshot and answers at once, as Redis's
/// BGSAVE does; SCHEDULE is accepted (nothing here blocks a snapshot).
async fn bgsave(node: &Node, args: &[Bytes]) -> Frame {
    match args {
        [] => {}
        [schedule] if is(schedule, "schedule") => {}
        _ => return syntax_error(),
    }
    for partition in &node.partitions {
        if let Err(e) = partition.raft.trigger().snapshot().await {
            return Frame::error(format!("ERR snapshot of partition {} failed: {e}", partition.id));
        }
    }
    Frame::simple("Background saving started")
}

/// When the whole keyspace was last saved (Unix seconds): the oldest of the
/// partitions' latest snapshots, where a partition not snapshotted since
/// start counts from the start (Redis's LASTSAVE starts at its start too).
pub fn last_save(node: &Node) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let started = now.saturating_sub(node.stats.started.elapsed().as_secs());
    let saved = node.partitions.iter().map(|p| p.saves.unix.load(Acquire).max(started)).min();
    saved.unwrap_or(started)
}
