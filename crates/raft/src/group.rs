//! Starting one partition's Raft group over the shared node log.

use crate::durability::Durability;
use crate::log_store::LogStore;
use crate::machine::{KeyCounts, SharedMachine, StateMachineStore};
use crate::network::NoTransport;
use crate::snapshot_file::{SnapshotFile, SnapshotFileError};
use crate::types::{NodeId, Raft};
use crate::wal::RecoveredLog;
use openraft::{BasicNode, Config, SnapshotPolicy};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use weir_log::Log;

/// Heartbeats and elections only matter once a group has peers; these are
/// openraft-typical values for a LAN.
const HEARTBEAT_MS: u64 = 100;
const ELECTION_MIN_MS: u64 = 300;
const ELECTION_MAX_MS: u64 = 600;
/// Entries per append-entries RPC (bounds a replication message).
const MAX_PAYLOAD_ENTRIES: u64 = 256;

#[derive(Clone, Debug)]
pub struct GroupConfig {
    pub node_id: NodeId,
    /// The address peers use to reach this node (recorded in membership).
    pub node_addr: String,
    pub snapshot_dir: PathBuf,
    /// Also build a snapshot after this many entries since the last one;
    /// without it only the partition's writer asks for snapshots (by log
    /// bytes, so a large state is not rewritten after every few small
    /// entries).
    pub snapshot_every: Option<u64>,
    /// Entries kept behind a snapshot so lagging members can catch up from
    /// the log instead of a full snapshot.
    pub keep_behind_snapshot: u64,
    /// Per-run limits of the partition's script interpreter.
    pub script_limits: weir_script::Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotFileError),
    #[error("invalid raft configuration: {0}")]
    Config(String),
    #[error("raft group of partition {partition} failed to start: {reason}")]
    Start { partition: u32, reason: String },
}

/// A running partition group.
pub struct Group {
    pub partition: u32,
    pub raft: Raft,
    /// The applied state; the server reads through the same lock.
    pub machine: SharedMachine,
    pub applied_index: Arc<AtomicU64>,
    pub key_counts: Arc<KeyCounts>,
    pub snapshots_built: Arc<AtomicU64>,
    /// The snapshots this group has written since start.
    pub saves: Arc<crate::machine::Saves>,
    /// Bytes of the latest snapshot.
    pub snapshot_bytes: Arc<AtomicU64>,
    /// The running script, if any (BUSY, SCRIPT KILL).
    pub script_control: Arc<weir_script::Control>,
    /// The last log index found at startup: the group is ready once it has
    /// applied this far (never serve a partial state).
    pub recovered_index: u64,
    /// What of this group's log is durable: the writer's cue to cut the
    /// next batch, and the gate on every reply and read.
    pub durability: Arc<Durability>,
}

pub async fn start_group(
    partition: u32,
    config: &GroupConfig,
    log: Arc<Log>,
    recovered: RecoveredLog,
) -> Result<Group, GroupError> {
    let raft_config = Config {
        cluster_name: format!("weir-partition-{partition}"),
        heartbeat_interval: HEARTBEAT_MS,
        election_timeout_min: ELECTION_MIN_MS,
        election_timeout_max: ELECTION_MAX_MS,
        max_payload_entries: MAX_PAYLOAD_ENTRIES,
        snapshot_policy: config.snapshot_every.map_or(SnapshotPolicy::Never, SnapshotPolicy::LogsSinceLast),
        max_in_snapshot_log_to_keep: config.keep_behind_snapshot,
        ..Default::default()
    }
    .validate()
    .map_err(|e| GroupError::Config(e.to_string()))?;

    // A node started alone acknowledges appends early until a membership
    // names another node (the multi-node transport will start members
    // with peers honest from the first append).
    let store = LogStore::new(partition, config.node_id, log, recovered, true);
    let recovered_index = store.last_index();
    let durability = store.durability();
    let scripts = weir_script::Engine::new(config.script_limits).map_err(|e| GroupError::Config(e.to_string()))?;
    let script_control = scripts.control();
    script_control.set_offload(crate::machine::offload_script);
    let snapshot_file = SnapshotFile::new(&config.snapshot_dir, partition);
    let machine = StateMachineStore::open(snapshot_file, scripts, durability.clone())?;
    if machine.membership_names_another(config.node_id) {
        durability.stop_early();
    }
    let (shared, applied_index, key_counts) = (machine.machine(), machine.applied_index(), machine.key_counts());
    let (snapshots_built, snapshot_bytes) = (machine.snapshots_built(), machine.snapshot_bytes());
    let saves = machine.saves();
    let start_err = |reason: String| GroupError::Start { partition, reason };
    let raft = Raft::new(config.node_id, Arc::new(raft_config), NoTransport, store, machine)
        .await
        .map_err(|e| start_err(e.to_string()))?;
    if !raft.is_initialized().await.map_err(|e| start_err(e.to_string()))? {
        let members = BTreeMap::from([(config.node_id, BasicNode { addr: config.node_addr.clone() })]);
        raft.initialize(members).await.map_err(|e| start_err(e.to_string()))?;
    }
    Ok(Group {
        partition,
        raft,
        machine: shared,
        applied_index,
        key_counts,
        snapshots_built,
        saves,
        snapshot_bytes,
        script_control,
        recovered_index,
        durability,
    })
}

impl Group {
    /// Waits until this node leads the group and has applied everything the
    /// log held at startup.
    pub async fn wait_ready(&self, node_id: NodeId, timeout: Duration) -> Result<(), GroupError> {
        let want = self.recovered_index;
        self.raft
            .wait(Some(timeout))
            .metrics(
                |m| m.current_leader == Some(node_id) && m.last_applied.map(|id| id.index).unwrap_or(0) >= want,
                "leader with the recovered log applied",
            )
            .await
            .map_err(|e| GroupError::Start { partition: self.partition, reason: e.to_string() })?;
        Ok(())
    }

    pub fn applied(&self) -> u64 {
        self.applied_index.load(Ordering::Acquire)
    }
}
