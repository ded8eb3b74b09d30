//! MEMORY USAGE: an estimate of the bytes a key and its value take, from
//! the structures' real sizes and capacities and jemalloc's size classes.
//!
//! As in Redis, a collection's elements are sampled (`samples` of them, 0
//! for all) and their average heap size counted for every element; the
//! fixed per-element costs (a list slot, a map's node share) are counted
//! exactly. Accuracy is checked against a counting allocator
//! (`crates/state/tests/memory_usage.rs`).

use crate::db::{Db, Entry};
use crate::keyspace_key::HASH_LEN;
use crate::stream::Stream;
use crate::value::{Elem, Value};
use bytes::Bytes;
use std::mem::size_of;

/// Redis's default sample count for MEMORY USAGE.
pub const DEFAULT_SAMPLES: usize = 5;

/// A keyspace slot (16 bytes) at the table's average load (80% at most,
/// 40% right after it grows: ~60%).
const SLOT_BYTES: usize = 16 * 100 / 60;

/// What an element costs a B-tree map with its key and value. std's
/// B-tree keeps up to 11 in a node (keys and values side by side, then a
/// parent link and two lengths: `11 * kv + 16` bytes, in jemalloc's size
/// class); measured, nodes are ~57% full as maps grow (6.3 elements: a
/// full node splits into halves, keys mostly arrive in order), plus a
/// share of the inner nodes' child pointers.
pub(crate) fn btree_entry(kv_size: usize) -> usize {
    alloc_size(11 * kv_size + 16) * 10 / 63 + 4
}

/// The bytes jemalloc hands out for a request of `n` (its size classes: 8,
/// then multiples of 16 up to 128, then four classes per doubling).
pub fn alloc_size(n: usize) -> usize {
    match n {
        0 => 0,
        1..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            let step = 1usize << (usize::BITS - (n - 1).leading_zeros() - 3);
            n.div_ceil(step) * step
        }
    }
}

/// The average of `f` over the first `samples` of `count` items (0: all)
/// times `count`: Redis's sampling.
pub(crate) fn sampled<T>(
    items: impl Iterator<Item = T>,
    count: usize,
    samples: usize,
    f: impl Fn(T) -> usize,
) -> usize {
    let take = if samples == 0 { count } else { samples.min(count) };
    if take == 0 {
        return 0;
    }
    let total: usize = items.take(take).map(f).sum();
    total * count / take
}

fn bytes_heap(bytes: &Bytes) -> usize {
    alloc_size(bytes.len())
}

impl Db {
    /// The estimated bytes of `key` with its value, or `None` if it is
    /// absent or expired at `now`.
    pub fn memory_usage(&self, key: &[u8], now: u64, samples: usize) -> Option<usize> {
        let entry = self.get(key, now)?;
        let mut bytes = SLOT_BYTES + alloc_size(size_of::<(crate::keyspace_key::StoredKey, Entry)>());
        bytes += alloc_size(HASH_LEN + key.len());
        if entry.expire_at != 0 {
            bytes += btree_entry(size_of::<(u64, Box<[u8]>)>()) + alloc_size(key.len());
        }
        Some(bytes + value_heap(&entry.value, samples))
    }
}

/// Heap bytes a value owns beyond the entry that holds it.
fn value_heap(value: &Value, samples: usize) -> usize {
    match value {
        Value::Inline(_) | Value::Int(_) => 0,
        Value::Str(s) => bytes_heap(s),
        Value::Hash(h) => {
            let per_entry = btree_entry(size_of::<(Bytes, Bytes)>());
            h.len() * per_entry + sampled(h.iter(), h.len(), samples, |(k, v)| bytes_heap(k) + bytes_heap(v))
        }
        Value::Set(s) => s.len() * btree_entry(size_of::<Bytes>()) + sampled(s.iter(), s.len(), samples, bytes_heap),
        Value::List(l) => {
            alloc_size(l.capacity() * size_of::<Elem>()) + sampled(l.iter(), l.len(), samples, Elem::heap_bytes)
        }
        Value::ZSet(z) => size_of::<crate::zset::ZSet>() + z.heap_bytes(samples),
        Value::Stream(s) => size_of::<Stream>() + s.heap_bytes(samples),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_jemallocs() {
        let classes =
            [(1, 8), (8, 8), (9, 16), (17, 32), (128, 128), (129, 160), (257, 320), (1000, 1024), (4097, 5120)];
        for (request, class) in classes {
            assert_eq!(alloc_size(request), class, "{request}");
        }
        assert!((1..100_000).all(|n| alloc_size(n) >= n && alloc_size(n) < n * 2 + 8));
    }

    #[test]
    fn sampling_scales_the_average_to_every_item() {
        let items = [10usize, 10, 10, 50];
        assert_eq!(sampled(items.iter(), 4, 0, |&n| n), 80, "all");
        assert_eq!(sampled(items.iter(), 4, 2, |&n| n), 40, "two sampled, four counted");
        assert_eq!(sampled(std::iter::empty::<&usize>(), 0, 5, |&n| n), 0);
    }
}
