//! Consumer groups: the last delivered ID, the entries-read counter, the
//! pending-entries list (PEL) and the consumers, as in Redis 7.0.
//!
//! Invariant: an ID is in a consumer's `pending` set exactly when the
//! group's PEL maps it to that consumer.

use super::{Stream, StreamId};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// Entries one group's PEL may hold: past it, XREADGROUP (without NOACK)
/// answers an error until entries are acknowledged (bounds memory).
pub const MAX_PENDING_PER_GROUP: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub consumer: Bytes,
    /// Batch-clock ms of the last delivery.
    pub delivered_ms: u64,
    pub deliveries: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    pub seen_ms: u64,
    pub pending: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub last_delivered: StreamId,
    /// Entries the group has read (Redis's `entries_read`); `None` when it
    /// cannot be known (Redis's -1).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// Heap bytes (MEMORY USAGE): the pending entries, each consumer's set
    /// of its own, and the consumers' names (shared with their entries).
    pub fn heap_bytes(&self) -> usize {
        use crate::memory_usage::{alloc_size, btree_entry};
        use std::mem::size_of;
        let pel = self.pel.len() * (btree_entry(size_of::<(StreamId, Pending)>()) + btree_entry(size_of::<StreamId>()));
        let consumers: usize = self
            .consumers
            .keys()
            .map(|name| btree_entry(size_of::<(Bytes, Consumer)>()) + alloc_size(name.len()))
            .sum();
        pel + consumers
    }

    pub fn new(last_delivered: StreamId, entries_read: Option<u64>) -> Group {
        Group { last_delivered, entries_read, ..Group::default() }
    }

    /// The consumer, created (seen now) if absent; true if created. The
    /// name is copied: an argument is a slice of its whole Raft batch.
    pub fn consumer(&mut self, name: &[u8], now_ms: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        if created {
            self.consumers.insert(Bytes::copy_from_slice(name), Consumer { seen_ms: now_ms, ..Consumer::default() });
        }
        let consumer = self.consumers.get_mut(name).expect("inserted above");
        consumer.seen_ms = now_ms;
        (consumer, created)
    }

    /// An existing consumer's own copy of its name (what its pending
    /// entries share).
    pub fn consumer_name(&self, name: &[u8]) -> Bytes {
        let (stored, _) = self.consumers.get_key_value(name).expect("the consumer exists");
        stored.clone()
    }

    /// Records a delivery of `id` to `consumer`: a new pending entry, or an
    /// existing one moved to this consumer with its count reset to 1.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now_ms: u64) {
        if let Some(previous) = self.pel.get(&id).map(|p| p.consumer.clone()) {
            if let Some(old) = self.consumers.get_mut(&previous) {
                old.pending.remove(&id);
            }
        }
        let consumer = self.consumer_name(consumer);
        self.consumers.get_mut(&consumer).expect("the consumer exists").pending.insert(id);
        self.pel.insert(id, Pending { consumer, delivered_ms: now_ms, deliveries: 1 });
    }

    /// Acknowledges `id`; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(pending) = self.pel.remove(&id) else { return false };
        let owner = self.consumers.get_mut(&pending.consumer).expect("a pending entry's consumer exists");
        assert!(owner.pending.remove(&id), "group and consumer PELs agree");
        true
    }

    /// Removes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> usize {
        let Some(consumer) = self.consumers.remove(name) else { return 0 };
        for id in &consumer.pending {
            self.pel.remove(id);
        }
        consumer.pending.len()
    }

    /// Moves the last-delivered ID past `id` during a read, keeping the
    /// entries-read counter as Redis does.
    pub fn advance(&mut self, stream: &Stream, id: StreamId) {
        if id <= self.last_delivered {
            return;
        }
        match self.entries_read {
            Some(read) if !stream.has_tombstones_from(id) => self.entries_read = Some(read + 1),
            _ if stream.entries_added > 0 => self.entries_read = stream.estimate_entries_read(id),
            _ => {}
        }
        self.last_delivered = id;
    }

    /// Entries added to the stream the group has not read yet, if known
    /// (XINFO's `lag`).
    pub fn lag(&self, stream: &Stream) -> Option<i64> {
        if stream.entries_added == 0 {
            return Some(0);
        }
        let read = match self.entries_read {
            Some(read) if !stream.has_tombstones_from(self.last_delivered) => Some(read),
            _ => stream.estimate_entries_read(self.last_delivered),
        }?;
        Some(stream.entries_added as i64 - read as i64)
    }
}

impl Stream {
    /// Whether a deleted ID lies at or after `from` among live entries
    /// (Redis's `streamRangeHasTombstones(s, from, NULL)`).
    pub fn has_tombstones_from(&self, from: StreamId) -> bool {
        if self.is_empty() || self.max_deleted_id == StreamId::MIN {
            return false;
        }
        if self.first_id().is_some_and(|first| first > self.max_deleted_id) {
            return false;
        }
        from <= self.max_deleted_id
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: how many entries
    /// precede and include `id`, when that can be known.
    pub fn estimate_entries_read(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id()?;
        if self.max_deleted_id == StreamId::MIN || self.max_deleted_id < first {
            let before_first = self.entries_added - self.len() as u64;
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return Some(before_first),
                std::cmp::Ordering::Equal => return Some(before_first + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }
}
