//! openraft's log storage for one partition, over the node's shared log.
//!
//! Entries live in memory from append until purge (a snapshot covers them),
//! so reads never touch the disk; the node log makes them durable. Appends
//! are visible to readers at once, and openraft learns of durability through
//! the flush callback, which the log's writer thread runs after its fsync.

use crate::codec::{self, KIND_ENTRY, KIND_PURGE, KIND_TRUNCATE, KIND_VOTE};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::wal::RecoveredLog;
use bytes::Bytes;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader, StorageIOError};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use weir_log::{Log, LogError, Record};

struct Inner {
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    purged: Option<LogId>,
}

/// Counts of this partition's appends handed to the node log and made
/// durable, in order (the node log completes appends in submission order).
/// The partition's writer uses it to cut its next batch the moment the
/// previous one is durable, instead of waiting for it to be applied and
/// answered. Only a scheduling hint: replies still wait for apply.
#[derive(Default)]
pub struct Flushes {
    appended: AtomicU64,
    flushed: AtomicU64,
    notify: tokio::sync::Notify,
}

impl Flushes {
    /// Appends started so far: an entry submitted now is durable once
    /// `flushed() > appended()` as read before submitting it.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    pub fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }

    /// Waits for the next completed append (or returns at once if one
    /// completed since the last wait: the permit is kept, never lost).
    pub async fn changed(&self) {
        self.notify.notified().await
    }

    fn completed(&self) {
        self.flushed.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_one();
    }
}

/// One partition's Raft log. Clones share the same state (the reader is a
/// clone), guarded by a lock that only this partition's group takes.
#[derive(Clone)]
pub struct LogStore {
    partition: u32,
    log: Arc<Log>,
    inner: Arc<Mutex<Inner>>,
    flushes: Arc<Flushes>,
}

impl LogStore {
    pub fn new(partition: u32, log: Arc<Log>, recovered: RecoveredLog) -> LogStore {
        let inner = Inner { entries: recovered.entries, vote: recovered.vote, purged: recovered.purged };
        LogStore { partition, log, inner: Arc::new(Mutex::new(inner)), flushes: Arc::default() }
    }

    pub fn flushes(&self) -> Arc<Flushes> {
        self.flushes.clone()
    }

    /// The last log index present (what recovery must apply before the
    /// partition is ready).
    pub fn last_index(&self) -> u64 {
        let inner = self.lock();
        inner.entries.keys().next_back().copied().or(inner.purged.map(|id| id.index)).unwrap_or(0)
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
        let mut records = Vec::new();
        {
            let mut inner = self.lock();
            for entry in entries {
                let index = entry.log_id.index;
                records.push(self.record(KIND_ENTRY, index, false, codec::encode_entry(&entry)));
                inner.entries.insert(index, entry);
            }
        }
        self.flushes.appended.fetch_add(1, Ordering::AcqRel);
        let flushes = self.flushes.clone();
        let done = Box::new(move |result: Result<(), LogError>| {
            callback.log_io_completed(result.map_err(io_error));
            flushes.completed();
        });
        self.log.append(records, done).await.map_err(|e| StorageIOError::write_logs(&io_error(e)))?;
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
