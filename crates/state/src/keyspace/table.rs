//! One ordered linear-probing table (see the parent module for the
//! invariants): slots in chunks, each chunk allocated when first written.

use crate::keyspace_key::{StoredKey, HASH_LEN};
use std::cmp::Ordering;

/// What a slot holds: the stored key and its value, boxed so that shifting
/// a run moves 16-byte slots, not items.
pub(super) type Item<V> = (StoredKey, V);

/// The hash of an empty slot: above every 48-bit hash, so a probe stops at
/// an empty slot by the same comparison that stops it at a larger hash.
pub(super) const EMPTY: u64 = u64::MAX;

/// Hashes are 48-bit; a table of `2^bits` homes uses the top `bits` bits.
const HASH_BITS: u32 = 48;

/// Slots per chunk in large tables (16 KiB): a chunk is allocated when first
/// written and freed as a migration passes it, so neither creating nor
/// dropping a table of millions of slots initializes or walks it at once.
/// Finding a slot costs one more load, from a directory that stays cached
/// (16 bytes per chunk).
const MAX_CHUNK_BITS: u32 = 10;

#[derive(Clone)]
pub(super) struct Slot<V> {
    /// The item's 48-bit hash, inline so a probe compares without following
    /// the box; [`EMPTY`] when there is no item.
    pub(super) hash: u64,
    pub(super) item: Option<Box<Item<V>>>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Slot { hash: EMPTY, item: None }
    }
}

#[derive(Clone)]
pub(super) struct Table<V> {
    /// `2^bits` homes; the slots may run past them (the overflow tail).
    pub(super) bits: u32,
    chunk_bits: u32,
    /// Chunks of `2^chunk_bits` slots, or empty (never written, or freed by a
    /// migration): an empty chunk, like one past the end, reads as empty slots.
    chunks: Vec<Box<[Slot<V>]>>,
}

impl<V> Table<V> {
    pub(super) fn new(bits: u32) -> Self {
        Table { bits, chunk_bits: bits.min(MAX_CHUNK_BITS), chunks: Vec::new() }
    }

    /// The home slot of `hash`: its top `bits` bits, so home order is hash order.
    pub(super) fn home(&self, hash: u64) -> usize {
        (hash >> (HASH_BITS - self.bits)) as usize
    }

    /// Slots in the directory's chunks (every slot past them reads as empty).
    pub(super) fn slot_count(&self) -> usize {
        self.chunks.len() << self.chunk_bits
    }

    fn mask(&self) -> usize {
        (1 << self.chunk_bits) - 1
    }

    pub(super) fn slot(&self, i: usize) -> Option<&Slot<V>> {
        self.chunks.get(i >> self.chunk_bits)?.get(i & self.mask())
    }

    fn hash_at(&self, i: usize) -> u64 {
        self.slot(i).map_or(EMPTY, |s| s.hash)
    }

    /// Slot `i`, which must be in an allocated chunk.
    fn slot_mut(&mut self, i: usize) -> &mut Slot<V> {
        let mask = self.mask();
        &mut self.chunks[i >> self.chunk_bits][i & mask]
    }

    /// Slot `i`, allocating its chunk (and the directory up to it) if needed.
    fn slot_alloc(&mut self, i: usize) -> &mut Slot<V> {
        let (c, size) = (i >> self.chunk_bits, 1 << self.chunk_bits);
        if c >= self.chunks.len() {
            self.chunks.resize_with(c + 1, Box::default);
        }
        if self.chunks[c].is_empty() {
            self.chunks[c] = (0..size).map(|_| Slot::default()).collect();
        }
        self.slot_mut(i)
    }

    pub(super) fn item(&self, i: usize) -> Option<&Item<V>> {
        self.slot(i)?.item.as_deref()
    }

    pub(super) fn item_mut(&mut self, i: usize) -> &mut Item<V> {
        self.slot_mut(i).item.as_deref_mut().expect("an occupied slot")
    }

    /// Walks from `from` (the home, or later when the slots before are
    /// known smaller or dead) while the resident is smaller than `stored`:
    /// `Ok` at an equal item, else `Err` with where `stored` belongs.
    pub(super) fn find(&self, from: usize, hash: u64, stored: &[u8]) -> Result<usize, usize> {
        let mut i = from;
        while let Some(slot) = self.slot(i) {
            if slot.hash > hash {
                break;
            }
            if slot.hash == hash {
                let key = slot.item.as_deref().map_or(&[][..], |(key, _)| &key[HASH_LEN..]);
                match key.cmp(&stored[HASH_LEN..]) {
                    Ordering::Less => {}
                    Ordering::Equal => return Ok(i),
                    Ordering::Greater => break,
                }
            }
            i += 1;
        }
        Err(i)
    }

    /// Puts an item at `at` (where `find` said it belongs), shifting the run
    /// from `at` up to the next empty slot right by one.
    pub(super) fn place(&mut self, at: usize, hash: u64, item: Box<Item<V>>) {
        let mut carry = Slot { hash, item: Some(item) };
        let mut i = at;
        while carry.item.is_some() {
            std::mem::swap(self.slot_alloc(i), &mut carry);
            i += 1;
        }
    }

    /// Takes the item at `at`, then shifts the displaced items after it
    /// (those past their home) left by one, up to an empty slot or an item
    /// at its home. Only slots at or after `at` change.
    pub(super) fn take(&mut self, at: usize) -> Box<Item<V>> {
        let taken = std::mem::take(self.slot_mut(at));
        let mut hole = at;
        loop {
            let hash = self.hash_at(hole + 1);
            if hash == EMPTY || self.home(hash) > hole {
                break;
            }
            *self.slot_mut(hole) = std::mem::take(self.slot_mut(hole + 1));
            hole += 1;
        }
        taken.item.expect("an occupied slot")
    }

    /// Empties slot `i` without shifting anything (a migration, which then
    /// treats the slots before its cursor as dead).
    pub(super) fn evict(&mut self, i: usize) -> Option<(u64, Box<Item<V>>)> {
        let mask = self.mask();
        let slot = self.chunks.get_mut(i >> self.chunk_bits)?.get_mut(i & mask)?;
        let taken = std::mem::take(slot);
        Some((taken.hash, taken.item?))
    }

    /// Frees the chunks from the one holding slot `from` to the last one
    /// wholly below slot `end` (dead: a migration has passed them).
    pub(super) fn free_between(&mut self, from: usize, end: usize) {
        let last = (end >> self.chunk_bits).min(self.chunks.len());
        let first = (from >> self.chunk_bits).min(last);
        for chunk in &mut self.chunks[first..last] {
            *chunk = Box::default();
        }
    }

    /// The first occupied slot at or after `i`, skipping empty chunks whole.
    pub(super) fn next_occupied(&self, mut i: usize) -> Option<usize> {
        let mask = self.mask();
        while let Some(chunk) = self.chunks.get(i >> self.chunk_bits) {
            if chunk.is_empty() {
                i = (i | mask) + 1;
            } else if chunk[i & mask].item.is_some() {
                return Some(i);
            } else {
                i += 1;
            }
        }
        None
    }
}
