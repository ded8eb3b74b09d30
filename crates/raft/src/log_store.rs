//! openraft's log storage for one partition, over the node's shared log.
//!
//! Entries live in memory from append until purge (a snapshot covers them),
//! so reads never touch the disk; the node log makes them durable. Appends
//! are visible to readers at once. openraft learns of durability through
//! the flush callback, which the log's writer thread runs after its fsync,
//! or, while the group is this node alone, as soon as the append is handed
//! to the log writer (see [`crate::durability`]).

use crate::codec::{self, KIND_ENTRY, KIND_PURGE, KIND_TRUNCATE, KIND_VOTE};
use crate::durability::Durability;
use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};
use crate::wal::RecoveredLog;
use bytes::Bytes;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{EntryPayload, LogState, OptionalSend, RaftLogReader, StorageIOError};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};
use weir_log::{Log, LogError, Record};

struct Inner {
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    purged: Option<LogId>,
}

impl Inner {
    fn last_index(&self) -> u64 {
        self.entries.keys().next_back().copied().or(self.purged.map(|id| id.index)).unwrap_or(0)
    }
}

/// One partition's Raft log. Clones share the same state (the reader is a
/// clone), guarded by a lock that only this partition's group takes.
#[derive(Clone)]
pub struct LogStore {
    partition: u32,
    /// This node: a membership naming any other ends early acknowledgement.
    node_id: NodeId,
    log: Arc<Log>,
    inner: Arc<Mutex<Inner>>,
    durability: Arc<Durability>,
}

impl LogStore {
    /// `early`: acknowledge appends before their fsync while no membership
    /// names another node (never if the recovered log holds one that does).
    pub fn new(partition: u32, node_id: NodeId, log: Arc<Log>, recovered: RecoveredLog, early: bool) -> LogStore {
        let inner = Inner { entries: recovered.entries, vote: recovered.vote, purged: recovered.purged };
        let peers = inner.entries.values().any(|e| names_another_node(e, node_id));
        let durability = Arc::new(Durability::new(inner.last_index(), early && !peers));
        LogStore { partition, node_id, log, inner: Arc::new(Mutex::new(inner)), durability }
    }

    pub fn durability(&self) -> Arc<Durability> {
        self.durability.clone()
    }

    /// The last log index present (what recovery must apply before the
    /// partition is ready).
    pub fn last_index(&self) -> u64 {
        self.lock().last_index()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic while the log was mid-update; serving
        // from it could expose a partial state, so fail loudly.
        self.inner.lock().expect("log store lock poisoned")
    }

    fn record(&self, kind: u8, index: u64, sticky: bool, body: Bytes) -> Record {
        Record { partition: self.partition, kind, index, sticky, body }
    }

    async fn write_durable(&self, record: Record) -> Result<(), LogError> {
        self.log.append_durable(vec![record]).await
    }
}

/// Whether `entry` is a membership that names a node other than `node_id`.
fn names_another_node(entry: &Entry, node_id: NodeId) -> bool {
    matches!(&entry.payload, EntryPayload::Membership(m) if m.nodes().any(|(id, _)| *id != node_id))
}

fn io_error(e: LogError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id).or(inner.purged);
        Ok(LogState { last_purged_log_id: inner.purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let record = self.record(KIND_VOTE, 0, true, codec::encode_vote(vote));
        self.write_durable(record).await.map_err(|e| StorageIOError::write_vote(&io_error(e)))?;
        self.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock().vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let (first, last) = (first.log_id.index, last.log_id.index);
        if self.durability.early() && entries.iter().any(|e| names_another_node(e, self.node_id)) {
            // Another node is about to receive entries: none of them may be
            // one this node could still lose.
            self.durability.stop_early();
            let earlier = self.durability.wait_for(first.saturating_sub(1)).await;
            earlier.map_err(|e| StorageIOError::write_logs(&e))?;
        }
        let mut records = Vec::with_capacity(entries.len());
        {
            let mut inner = self.lock();
            for entry in entries {
                let index = entry.log_id.index;
                records.push(self.record(KIND_ENTRY, index, false, codec::encode_entry(&entry)));
                inner.entries.insert(index, entry);
            }
        }
        self.durability.started();
        let (early, honest) = match self.durability.early() {
            true => (Some(callback), None),
            false => (None, Some(callback)),
        };
        let durability = self.durability.clone();
        let done = Box::new(move |result: Result<(), LogError>| {
            durability.completed(last, result.is_ok());
            if let Some(callback) = honest {
                callback.log_io_completed(result.map_err(io_error));
            }
        });
        self.log.append(records, done).await.map_err(|e| StorageIOError::write_logs(&io_error(e)))?;
        if let Some(callback) = early {
            callback.log_io_completed(Ok(()));
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock().entries.split_off(&log_id.index);
        let record = self.record(KIND_TRUNCATE, log_id.index, false, Bytes::new());
        self.write_durable(record).await.map_err(|e| StorageIOError::write_logs(&io_error(e)))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut inner = self.lock();
            let keep = inner.entries.split_off(&(log_id.index + 1));
            inner.entries = keep;
            inner.purged = Some(log_id);
        }
        let record = self.record(KIND_PURGE, 0, true, codec::encode_log_id(Some(&log_id)));
        self.write_durable(record).await.map_err(|e| StorageIOError::write_logs(&io_error(e)))?;
        // Only after the purge marker is durable may whole segments go.
        self.log.release(self.partition, log_id.index);
        Ok(())
    }
}
