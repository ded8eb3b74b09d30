//! Streams: an append-only log of entries keyed by `ms-seq` IDs, as in
//! Redis 7.
//!
//! Entries live in a B-tree by ID (O(log n) range reads, deletes and
//! trims). Redis stores entries in radix-tree nodes of up to 100 entries and
//! approximate trimming (`~`) removes whole nodes only; to give the same
//! answers, each entry remembers its insertion ordinal and a "node" is 100
//! consecutive ordinals. (Redis also closes a node at 4 KiB; entries that
//! large make its `~` trims differ from ours, within what `~` promises.)

pub mod fields;
pub mod group;
pub mod id;

pub use fields::Fields;
pub use group::{Consumer, Group, Pending};
pub use id::StreamId;

use bytes::Bytes;
use std::collections::BTreeMap;

/// Entries per node, for approximate trimming (Redis's
/// `stream-node-max-entries` default).
pub const NODE_ENTRIES: u64 = 100;
/// Entries an approximate trim removes per call unless LIMIT says
/// otherwise (Redis: 100 × `stream-node-max-entries`).
pub const DEFAULT_TRIM_LIMIT: u64 = 100 * NODE_ENTRIES;

/// One entry: its field-value pairs, and its insertion ordinal (its node).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub ordinal: u64,
    pub fields: Fields,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    pub entries: BTreeMap<StreamId, Entry>,
    /// The greatest ID ever added (or set by XSETID): new IDs exceed it.
    pub last_id: StreamId,
    pub max_deleted_id: StreamId,
    /// Entries ever added (XADD count, or as set by XSETID).
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
}

/// A trim's next step: one entry (exact), a whole node (approximate), or
/// the end.
enum TrimStep {
    Stop,
    One(StreamId),
    Node(Vec<StreamId>),
}

/// How to trim: keep at most `MaxLen` entries, or drop IDs below `MinId`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn first_id(&self) -> Option<StreamId> {
        self.entries.keys().next().copied()
    }

    /// The greatest live ID, or 0-0.
    pub fn max_live_id(&self) -> StreamId {
        self.entries.keys().next_back().copied().unwrap_or_default()
    }

    /// Appends an entry whose ID the caller checked exceeds `last_id`.
    pub fn push(&mut self, id: StreamId, fields: Fields) {
        assert!(id > self.last_id, "stream IDs only grow");
        self.entries.insert(id, Entry { ordinal: self.entries_added, fields });
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Removes one entry; true if it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let removed = self.entries.remove(&id).is_some();
        if removed && id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        removed
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.entries.contains_key(&id)
    }

    /// Trims exactly, or (`approx`) by whole nodes and at most `limit`
    /// entries (0: no limit). Returns how many entries were removed.
    pub fn trim(&mut self, trim: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0;
        loop {
            match self.trim_step(trim, approx, limit, removed) {
                TrimStep::Stop => return removed,
                TrimStep::One(id) => {
                    self.delete(id);
                    removed += 1;
                }
                TrimStep::Node(ids) => {
                    for id in ids {
                        self.delete(id);
                        removed += 1;
                    }
                }
            }
        }
    }

    /// Whether `trim` would remove anything: checked before a write, so a
    /// trim that removes nothing changes nothing (WATCH sees no change).
    pub fn trims_any(&self, trim: Trim, approx: bool, limit: u64) -> bool {
        !matches!(self.trim_step(trim, approx, limit, 0), TrimStep::Stop)
    }

    /// What a trim that has removed `removed` entries removes next.
    fn trim_step(&self, trim: Trim, approx: bool, limit: u64, removed: u64) -> TrimStep {
        let Some((&first, entry)) = self.entries.iter().next() else { return TrimStep::Stop };
        if !approx {
            let drop = match trim {
                Trim::MaxLen(max) => self.len() as u64 > max,
                Trim::MinId(min) => first < min,
            };
            return if drop { TrimStep::One(first) } else { TrimStep::Stop };
        }
        let node = entry.ordinal / NODE_ENTRIES;
        let in_node: Vec<StreamId> =
            self.entries.iter().take_while(|(_, e)| e.ordinal / NODE_ENTRIES == node).map(|(id, _)| *id).collect();
        let whole_node_goes = match trim {
            Trim::MaxLen(max) => self.len() as u64 - in_node.len() as u64 >= max,
            // Only when every ID in the node is below the minimum (its
            // last live ID stands for the last it ever held).
            Trim::MinId(min) => in_node.last().is_some_and(|last| *last < min),
        };
        if !whole_node_goes || (limit != 0 && removed + in_node.len() as u64 > limit) {
            return TrimStep::Stop;
        }
        TrimStep::Node(in_node)
    }

    /// Entries with IDs in `[start, end]`, ascending or (`rev`) descending,
    /// at most `count` (0: all).
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool, count: usize) -> Vec<(StreamId, &Entry)> {
        if start > end {
            return Vec::new();
        }
        let limit = if count == 0 { usize::MAX } else { count };
        let range = self.entries.range(start..=end).map(|(id, e)| (*id, e));
        match rev {
            false => range.take(limit).collect(),
            true => range.rev().take(limit).collect(),
        }
    }

    /// Heap bytes held (MEMORY USAGE, `crate::memory_usage`): entries'
    /// fields sampled over `samples` entries (0: all), the groups counted.
    pub fn heap_bytes(&self, samples: usize) -> usize {
        use crate::memory_usage::{btree_entry, sampled};
        use std::mem::size_of;
        let count = self.entries.len();
        let entries = count * btree_entry(size_of::<(StreamId, Entry)>())
            + sampled(self.entries.values(), count, samples, |e| e.fields.heap_bytes());
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, group)| {
                btree_entry(size_of::<(Bytes, Group)>())
                    + crate::memory_usage::alloc_size(name.len())
                    + group.heap_bytes()
            })
            .sum();
        entries + groups
    }
}

#[cfg(test)]
mod tests;
