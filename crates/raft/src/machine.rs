//! openraft's state machine for one partition: the partition's `Db`.
//!
//! The `Db` sits behind one lock per partition, shared with the server's read
//! path. Only this state machine mutates it, by applying committed entries in
//! log order, so the partition has exactly one writer. What it applied may
//! not be durable yet (early acknowledgement, [`crate::durability`]): readers
//! wait for the applied index to be durable, and so does a snapshot.

use crate::durability::Durability;
use crate::snapshot_file::{Meta, SnapshotFile};
use crate::types::{Entry, LogId, Response, StorageError, StoredMembership, TypeConfig};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError};
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;
use weir_script::Engine;
use weir_state::capture::CAPTURE_STEP_BYTES;
use weir_state::Db;

/// A partition's applied state.
pub struct Machine {
    pub db: Db,
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    /// The partition's script interpreter: scripts run as part of applying
    /// their entry, on this partition's one writer.
    pub scripts: Engine,
}

pub type SharedMachine = Arc<Mutex<Machine>>;

/// A partition's key counts as of its last apply, readable without the
/// lock: INFO, DBSIZE and /metrics never wait on a running script.
#[derive(Debug, Default)]
pub struct KeyCounts {
    pub keys: AtomicU64,
    pub expires: AtomicU64,
}

impl KeyCounts {
    fn publish(&self, db: &Db) {
        self.keys.store(db.len() as u64, Ordering::Release);
        self.expires.store(db.expires_len() as u64, Ordering::Release);
    }
}

/// Locks a partition's machine. A poisoned lock means a panic mid-apply;
/// serving from it could expose a partial state, so fail loudly. Only for
/// code off the runtime's threads (or where the lock cannot be held long):
/// a runtime thread blocked here strands every task queued on it, other
/// partitions' among them.
pub fn lock(machine: &SharedMachine) -> MutexGuard<'_, Machine> {
    machine.lock().expect("partition state lock poisoned")
}

/// Turns a task yields to the lock's holder before it waits a tick between
/// tries (a snapshot being serialized, or a read-only script, may hold it
/// for milliseconds).
const LOCK_YIELDS: u32 = 64;
const LOCK_RETRY: Duration = Duration::from_millis(1);

/// Locks a partition's machine from a task, never blocking its runtime
/// thread: while another thread holds the lock, the task yields (then
/// sleeps a tick) between tries. The guard must be dropped before the
/// caller's next await.
pub async fn lock_async(machine: &SharedMachine) -> MutexGuard<'_, Machine> {
    let mut tries = 0;
    loop {
        if let Some(guard) = try_lock(machine) {
            return guard;
        }
        lock_backoff(&mut tries).await;
    }
}

/// The machine's lock if it is free now (`None` while another thread holds
/// it); a poisoned lock fails loudly, as in [`lock`].
pub fn try_lock(machine: &SharedMachine) -> Option<MutexGuard<'_, Machine>> {
    match machine.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(_)) => panic!("partition state lock poisoned"),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// One wait between tries of a held lock: a yield for the first
/// `LOCK_YIELDS` tries, a tick after that.
pub async fn lock_backoff(tries: &mut u32) {
    *tries = tries.saturating_add(1);
    match *tries <= LOCK_YIELDS {
        true => tokio::task::yield_now().await,
        false => tokio::time::sleep(LOCK_RETRY).await,
    }
}

#[derive(Clone)]
pub struct StateMachineStore {
    machine: SharedMachine,
    file: SnapshotFile,
    /// The applied log index, readable without the lock (metrics, readiness).
    applied_index: Arc<AtomicU64>,
    key_counts: Arc<KeyCounts>,
    snapshots_built: Arc<AtomicU64>,
    /// The snapshots written since start (SAVE, LASTSAVE).
    saves: Arc<Saves>,
    /// Size of the latest snapshot: the writer lets the log grow at least
    /// this much before the next one, so snapshot cost stays proportional
    /// to the bytes logged, however large the state.
    snapshot_bytes: Arc<AtomicU64>,
    scripts: Arc<weir_script::Control>,
    /// A snapshot waits until what it covers is durable.
    durability: Arc<Durability>,
    /// Held while a snapshot is captured: one capture at a time.
    building: Arc<tokio::sync::Mutex<()>>,
}

impl StateMachineStore {
    /// Loads the partition's snapshot, if any (the log is replayed on top by
    /// openraft once the group starts).
    pub fn open(
        file: SnapshotFile,
        scripts: Engine,
        durability: Arc<Durability>,
    ) -> Result<StateMachineStore, crate::snapshot_file::SnapshotFileError> {
        let mut snapshot_bytes = 0;
        let control = scripts.control();
        let machine = match file.load()? {
            None => Machine { db: Db::new(), applied: None, membership: StoredMembership::default(), scripts },
            Some((meta, bytes)) => {
                snapshot_bytes = bytes.len() as u64;
                let db = Db::read_snapshot(&bytes).map_err(|e| crate::snapshot_file::SnapshotFileError::Corrupt {
                    path: file.path().to_path_buf(),
                    reason: e.to_string(),
                })?;
                tracing::info!(path = %file.path().display(), applied = ?meta.last_log_id, keys = db.len(), "loaded snapshot");
                Machine { db, applied: meta.last_log_id, membership: meta.last_membership, scripts }
            }
        };
        let applied = machine.applied.map(|id| id.index).unwrap_or(0);
        let key_counts = Arc::new(KeyCounts::default());
        key_counts.publish(&machine.db);
        Ok(StateMachineStore {
            machine: Arc::new(Mutex::new(machine)),
            file,
            applied_index: Arc::new(AtomicU64::new(applied)),
            key_counts,
            snapshots_built: Arc::new(AtomicU64::new(0)),
            saves: Arc::default(),
            snapshot_bytes: Arc::new(AtomicU64::new(snapshot_bytes)),
            scripts: control,
            durability,
            building: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Whether the loaded snapshot's membership names a node other than
    /// `node_id`.
    pub fn membership_names_another(&self, node_id: crate::types::NodeId) -> bool {
        lock(&self.machine).membership.membership().nodes().any(|(id, _)| *id != node_id)
    }

    pub fn machine(&self) -> SharedMachine {
        self.machine.clone()
    }

    pub fn applied_index(&self) -> Arc<AtomicU64> {
        self.applied_index.clone()
    }

    pub fn key_counts(&self) -> Arc<KeyCounts> {
        self.key_counts.clone()
    }

    pub fn snapshots_built(&self) -> Arc<AtomicU64> {
        self.snapshots_built.clone()
    }

    pub fn saves(&self) -> Arc<Saves> {
        self.saves.clone()
    }

    pub fn snapshot_bytes(&self) -> Arc<AtomicU64> {
        self.snapshot_bytes.clone()
    }

    fn apply_one(machine: &mut Machine, entry: Entry) -> Result<Response, StorageError> {
        let log_id = entry.log_id;
        let response = match entry.payload {
            EntryPayload::Blank => Response::default(),
            EntryPayload::Normal(request) => {
                let Machine { db, scripts, .. } = machine;
                let batch = &request.0;
                // A script that runs long moves off this runtime thread
                // on its own (`offload_script`), so other partitions keep
                // serving.
                let replies = db.apply_batch_with(batch, Some(scripts));
                let replies = replies.map_err(|e| StorageIOError::apply(log_id, &e))?;
                Response { replies, ready: machine.db.take_ready() }
            }
            EntryPayload::Membership(membership) => {
                machine.membership = StoredMembership::new(Some(log_id), membership);
                Response::default()
            }
        };
        machine.applied = Some(log_id);
        Ok(response)
    }
}

/// How long a script that runs long waits for its runtime thread's other
/// tasks to be running elsewhere before it tries again later.
const OFFLOAD_WAIT: Duration = Duration::from_millis(5);

/// Moves a script that has run long off its runtime worker thread, from
/// the script's instruction hook (`Control::set_offload`): the worker's
/// other tasks go to a fresh worker (`block_in_place` with a closure that
/// returns once the new worker runs a probe task; the script then goes on
/// without the worker, which the runtime no longer waits for). A script
/// that ends in time never pays for the hand-off: per batch it cost up to
/// a third of a flash sale's throughput without a pipeline. With more than
/// one worker another may run the probe before the fresh one starts, and
/// the script keeps its worker; the others still steal from its queue.
pub fn offload_script() -> bool {
    let Ok(handle) = tokio::runtime::Handle::try_current() else { return true };
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return true;
    }
    let ran = Arc::new(AtomicBool::new(false));
    let probe = ran.clone();
    tokio::task::block_in_place(|| {
        handle.spawn(async move { probe.store(true, Ordering::Release) });
        let deadline = std::time::Instant::now() + OFFLOAD_WAIT;
        while !ran.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(50));
        }
    });
    ran.load(Ordering::Acquire)
}

/// The snapshots a group has written since start: how many, the log index
/// the latest covers, and when it was written (Unix seconds, 0: none yet).
#[derive(Debug, Default)]
pub struct Saves {
    pub count: AtomicU64,
    pub index: AtomicU64,
    pub unix: AtomicU64,
}

impl Saves {
    fn written(&self, index: u64) {
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.unix.store(unix, Ordering::Release);
        self.index.fetch_max(index, Ordering::AcqRel);
        self.count.fetch_add(1, Ordering::AcqRel);
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let machine = lock_async(&self.machine).await;
        Ok((machine.applied, machine.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let scripts = entries
            .iter()
            .any(|e| matches!(&e.payload, EntryPayload::Normal(r) if weir_state::batch::has_scripts(&r.0)));
        self.scripts.set_pending(scripts);
        let mut machine = lock_async(&self.machine).await;
        let mut responses = Vec::new();
        let mut result = Ok(());
        for entry in entries {
            match Self::apply_one(&mut machine, entry) {
                Ok(response) => responses.push(response),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let applied = machine.applied.map(|id| id.index).unwrap_or(0);
        self.key_counts.publish(&machine.db);
        drop(machine);
        self.scripts.set_pending(false);
        result?;
        self.applied_index.store(applied, Ordering::Release);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let db = Db::read_snapshot(&bytes).map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.save_file(meta.clone(), bytes).await?;
        self.saves.written(meta.last_log_id.map_or(0, |id| id.index));
        let mut machine = lock_async(&self.machine).await;
        self.key_counts.publish(&db);
        let mut replaced = std::mem::replace(&mut machine.db, db);
        // A snapshot being captured of the replaced state still finishes.
        machine.db.adopt_capture(&mut replaced);
        machine.applied = meta.last_log_id;
        machine.membership = meta.last_membership.clone();
        self.applied_index.store(meta.last_log_id.map(|id| id.index).unwrap_or(0), Ordering::Release);
        drop(machine);
        // Freed without the lock: a large state takes a while.
        drop(replaced);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let file = self.file.clone();
        let loaded = tokio::task::spawn_blocking(move || file.load())
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(loaded.map(|(meta, bytes)| Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) }))
    }
}

impl StateMachineStore {
    /// Starts capturing the state as it is now, and names the snapshot.
    async fn begin_capture(&self) -> Meta {
        let mut machine = lock_async(&self.machine).await;
        // Builders take turns (`building`), so a capture still here was
        // left by one that was dropped before it finished.
        machine.db.abandon_capture();
        machine.db.begin_capture();
        let count = self.snapshots_built.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot_id = match machine.applied {
            Some(id) => format!("{}-{}-{count}", id.leader_id.term, id.index),
            None => format!("0-0-{count}"),
        };
        Meta { last_log_id: machine.applied, last_membership: machine.membership.clone(), snapshot_id }
    }

    /// Persists a snapshot off the async workers and hands the bytes back.
    async fn save_file(&self, meta: Meta, bytes: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        let file = self.file.clone();
        let signature = meta.signature();
        tokio::task::spawn_blocking(move || file.save(&meta, &bytes).map(|()| bytes))
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(signature.clone()), &e))?
            .map_err(|e| StorageIOError::write_snapshot(Some(signature), &e).into())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let _one = self.building.lock().await;
        let started = std::time::Instant::now();
        let meta = self.begin_capture().await;
        // Captured in steps between batches (`weir_state::capture`): the
        // partition keeps applying, each step holds its lock ~1 ms.
        let (mut steps, mut longest) = (0u32, std::time::Duration::ZERO);
        let captured = loop {
            let (captured, held) = {
                let mut machine = lock_async(&self.machine).await;
                let step = std::time::Instant::now();
                let captured = machine.db.capture_step(CAPTURE_STEP_BYTES).then(|| machine.db.finish_capture());
                (captured, step.elapsed())
            };
            (steps, longest) = (steps + 1, longest.max(held));
            match captured {
                Some(captured) => break captured,
                None => tokio::task::yield_now().await,
            }
        };
        let bytes = tokio::task::spawn_blocking(move || captured.into_bytes())
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.snapshot_bytes.store(bytes.len() as u64, Ordering::Relaxed);
        let captured = started.elapsed();
        // A snapshot outlives a crash: it may only hold durable entries.
        let covered = meta.last_log_id.map_or(0, |id| id.index);
        let durable = self.durability.wait_for(covered).await;
        durable.map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let bytes = self.save_file(meta.clone(), bytes).await?;
        self.saves.written(covered);
        tracing::debug!(
            snapshot = %meta.snapshot_id,
            bytes = bytes.len(),
            steps,
            longest_step_us = longest.as_micros() as u64,
            captured_ms = captured.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "snapshot built"
        );
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}
