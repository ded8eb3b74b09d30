//! The partition keyspace: an ordered hash table of (stored key, value)
//! items, iterated in stored-key order, i.e. by (48-bit hash, key), which is
//! what SCAN's cursor ("the next hash") needs.
//!
//! Ordered linear probing (Amble & Knuth's ordered hash table; Robin Hood
//! hashing with a monotone home). A table has `2^bits` homes; an item's home
//! is the top `bits` bits of its hash, so home order is hash order. Invariant:
//! occupied slots are in strictly increasing stored-key order in slot order,
//! every item sits at or after its home, and no empty slot lies between an
//! item's home and its slot. So slot order is (hash, key) order, and a walk
//! for a key or for SCAN's cursor starts at the hash's home. Nothing wraps
//! around: a run that reaches the last home continues into an overflow tail.
//!
//! - Lookup: walk from the home while the resident is smaller; stop at equal
//!   (found), larger or empty (absent): a miss costs what a hit costs.
//! - Insert: the same walk, then shift the run from there to the next empty
//!   slot right by one. Remove: backward-shift the displaced items after it.
//!
//! Layout: a slot is `{ hash: u64, item: Option<Box<(StoredKey, V)>> }`, 16
//! bytes (the box's niche holds `None`). The hash is inline, so a walk
//! compares hashes without following a pointer; key bytes are compared only
//! on equal hashes. A hit costs about three cache misses (slot, item, key
//! bytes). Items are boxed so a shift moves 16-byte slots and an empty slot
//! costs 16 bytes, not an item's size (72 bytes for a `Db`: the key's
//! pointer and length, then the `Entry`). Per key that is the box plus 20
//! to 40 bytes of slots, about what the B-tree's nodes took. Slots live in
//! chunks, allocated when first written and freed as a migration passes
//! them (`table`).
//!
//! Resizing is incremental, like Redis's rehash: a resize creates the new
//! table and keeps the old one, and every insert or remove first migrates a
//! few old slots (`MIGRATE_ITEMS`, `MIGRATE_SLOTS`), front to back, into the
//! new one. Old slots below `moved` are dead, so a lookup walks the old
//! table from `max(home, moved)`, then the new one; new keys go to the new
//! table; a key is in exactly one table. Both tables are in the same order,
//! so iteration merges them.

mod table;
#[cfg(test)]
mod tests;

use crate::keyspace_key::{hash_of, StoredKey, HASH_LEN};
use std::iter::Peekable;
use table::{Item, Table};

/// Items RANDOMKEY draws one from (Redis's fair random key samples 15).
const RANDOM_WINDOW: usize = 16;

/// The smallest table: 64 homes (1 KiB of slots), for small partitions.
const MIN_BITS: u32 = 6;

/// Grow above this load. At 80% ordered probing still finds or misses in
/// ~3 slots on average (a miss stops at a larger hash), and an insert
/// shifts ~12 slots (a few cache lines); past it the runs lengthen fast.
const MAX_LOAD_PERCENT: usize = 80;

/// Shrink below 1/16 load: far enough from the grow threshold that
/// alternating inserts and removes never resize back and forth.
const SHRINK_BELOW: usize = 16;

/// Items a migration moves per insert or remove: each is a short walk and
/// shift in the new table, so a call does at most a few microseconds more.
const MIGRATE_ITEMS: usize = 64;

/// Slots a migration looks at per insert or remove (4 KiB read in order), so
/// the empty stretches of a sparse old table are crossed quickly.
///
/// With C the old table's homes, a migration ends within S/256 + L/64 calls
/// (S ≤ 2·C old slots with the overflow tail, L old items). After a grow
/// (L ≈ 0.8·C): ≤ 0.021·C calls, while the next resize is ≥ 0.67·C calls
/// away. After a shrink (L < C/16, new table C/8 at < 50% load): ≤ 0.009·C
/// calls, while the next grow is ≥ 0.037·C inserts away and the next
/// shrink ≥ 0.055·C removes. So a resize never comes due mid-migration.
const MIGRATE_SLOTS: usize = 256;

/// An ordered hash table of `(StoredKey, V)`; see the module docs.
#[derive(Clone)]
pub struct Keyspace<V> {
    /// Where new keys go.
    table: Table<V>,
    /// The table being migrated into `table`, during a resize.
    old: Option<Table<V>>,
    /// Old slots below this are migrated (dead).
    moved: usize,
    len: usize,
}

/// Where a key is: a slot of the old table, of the new table, or the slot
/// of the new table where it would go.
enum Found {
    Old(usize),
    New(usize),
    Absent(usize),
}

impl<V> Keyspace<V> {
    pub fn new() -> Self {
        Keyspace { table: Table::new(MIN_BITS), old: None, moved: 0, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value at a stored key (hash, then key).
    pub fn get(&self, stored: &[u8]) -> Option<&V> {
        let item = match self.locate(hash_of(stored), stored) {
            Found::Old(i) => self.old.as_ref().and_then(|old| old.item(i)),
            Found::New(i) => self.table.item(i),
            Found::Absent(_) => None,
        };
        item.map(|(_, value)| value)
    }

    pub fn get_mut(&mut self, stored: &[u8]) -> Option<&mut V> {
        let item = match self.locate(hash_of(stored), stored) {
            Found::Old(i) => self.old_mut().item_mut(i),
            Found::New(i) => self.table.item_mut(i),
            Found::Absent(_) => return None,
        };
        Some(&mut item.1)
    }

    /// Inserts or replaces (keeping the existing key); returns the old value.
    pub fn insert(&mut self, key: StoredKey, value: V) -> Option<V> {
        self.migrate_step();
        let hash = hash_of(&key);
        let previous = match self.locate(hash, &key) {
            Found::Old(i) => Some(std::mem::replace(&mut self.old_mut().item_mut(i).1, value)),
            Found::New(i) => Some(std::mem::replace(&mut self.table.item_mut(i).1, value)),
            Found::Absent(at) => {
                self.table.place(at, hash, Box::new((key, value)));
                self.len += 1;
                None
            }
        };
        self.resize_if_needed();
        previous
    }

    pub fn remove(&mut self, stored: &[u8]) -> Option<V> {
        self.migrate_step();
        let item = match self.locate(hash_of(stored), stored) {
            Found::Old(i) => self.old_mut().take(i),
            Found::New(i) => self.table.take(i),
            Found::Absent(_) => return None,
        };
        self.len -= 1;
        self.resize_if_needed();
        let (_, value) = *item;
        Some(value)
    }

    pub fn clear(&mut self) {
        *self = Keyspace::new();
    }

    /// Every item in ascending stored-key order.
    pub fn iter(&self) -> impl Iterator<Item = (&StoredKey, &V)> {
        self.merged(0, 0)
    }

    /// The items at or after `bound` (a stored key, or a prefix of one such
    /// as the 6 hash bytes) in ascending order. Starts at the bound's home:
    /// O(1) on average.
    pub fn iter_from(&self, bound: &[u8]) -> impl Iterator<Item = (&StoredKey, &V)> {
        // A shorter bound is padded with zeros: the same items are >= both.
        let mut padded = [0u8; HASH_LEN];
        let bound = if bound.len() < HASH_LEN {
            padded[..bound.len()].copy_from_slice(bound);
            &padded[..]
        } else {
            bound
        };
        let hash = hash_of(bound);
        let start = |table: &Table<V>, from: usize| {
            let (Ok(at) | Err(at)) = table.find(table.home(hash).max(from), hash, bound);
            at
        };
        let old = self.old.as_ref().map_or(0, |old| start(old, self.moved));
        self.merged(old, start(&self.table, 0))
    }

    /// An item picked about uniformly (RANDOMKEY): from a random home
    /// (`position`'s top bits), the next `RANDOM_WINDOW` items in order,
    /// wrapping, and one of them by `pick`, as Redis's fair random key
    /// samples a run of entries. An item's chance then follows the mean gap
    /// before the window's items, not its own gap: within a small factor of
    /// 1/len, and never 0 (a home's second item included).
    pub fn random_item(&self, position: u64, pick: u64) -> Option<(&StoredKey, &V)> {
        let (bits, hash_bits) = (self.table.bits, 8 * HASH_LEN as u32);
        debug_assert!(bits <= hash_bits);
        let start = (position >> (64 - bits)) << (hash_bits - bits);
        let window = self.len.min(RANDOM_WINDOW) as u64;
        if window == 0 {
            return None;
        }
        let mut items = self.iter_from(&start.to_be_bytes()[8 - HASH_LEN..]).chain(self.iter());
        items.nth((pick % window) as usize)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }

    fn merged(&self, old_from: usize, new_from: usize) -> Iter<'_, V> {
        let old = Run { table: self.old.as_ref(), at: old_from.max(self.moved) };
        Iter { old: old.peekable(), new: Run { table: Some(&self.table), at: new_from }.peekable() }
    }

    fn locate(&self, hash: u64, stored: &[u8]) -> Found {
        debug_assert!(stored.len() >= HASH_LEN, "a stored key");
        if let Some(old) = &self.old {
            if let Ok(i) = old.find(old.home(hash).max(self.moved), hash, stored) {
                return Found::Old(i);
            }
        }
        match self.table.find(self.table.home(hash), hash, stored) {
            Ok(i) => Found::New(i),
            Err(at) => Found::Absent(at),
        }
    }

    fn old_mut(&mut self) -> &mut Table<V> {
        self.old.as_mut().expect("a key found in the old table during a migration")
    }

    /// If migrating, moves the next old slots' items to the new table (up
    /// to `MIGRATE_ITEMS` items in `MIGRATE_SLOTS` slots).
    fn migrate_step(&mut self) {
        let Some(old) = self.old.as_mut() else { return };
        let end = (self.moved + MIGRATE_SLOTS).min(old.slot_count());
        let (mut i, mut items) = (self.moved, 0);
        while i < end && items < MIGRATE_ITEMS {
            if let Some((hash, item)) = old.evict(i) {
                let found = self.table.find(self.table.home(hash), hash, &item.0);
                debug_assert!(found.is_err(), "a key lives in one table");
                let (Ok(at) | Err(at)) = found;
                self.table.place(at, hash, item);
                items += 1;
            }
            i += 1;
        }
        old.free_between(self.moved, i);
        self.moved = i;
        if i == old.slot_count() {
            self.old = None;
            self.moved = 0;
        }
    }

    /// Starts a resize when the load left its bounds.
    fn resize_if_needed(&mut self) {
        let homes = 1usize << self.table.bits;
        let grow = self.len * 100 > homes * MAX_LOAD_PERCENT;
        let shrink = self.table.bits > MIN_BITS && self.len * SHRINK_BELOW < homes;
        if !grow && !shrink {
            return;
        }
        debug_assert!(self.old.is_none(), "a resize due while migrating: MIGRATE_SLOTS is too small");
        while self.old.is_some() {
            self.migrate_step();
        }
        let old = std::mem::replace(&mut self.table, Table::new(bits_for(self.len)));
        self.old = Some(old);
        self.moved = 0;
    }
}

/// The smallest table (of at least `2^MIN_BITS` homes) with a load under
/// 1/2: 40% right after a grow at 80%, under 50% after a shrink.
fn bits_for(len: usize) -> u32 {
    let mut bits = MIN_BITS;
    while (1usize << bits) <= 2 * len {
        bits += 1;
    }
    bits
}

/// One table's items from a slot on, with their hashes.
struct Run<'a, V> {
    table: Option<&'a Table<V>>,
    at: usize,
}

impl<'a, V> Iterator for Run<'a, V> {
    type Item = (u64, &'a Item<V>);

    fn next(&mut self) -> Option<Self::Item> {
        let table = self.table?;
        let i = table.next_occupied(self.at)?;
        self.at = i + 1;
        let slot = table.slot(i)?;
        Some((slot.hash, slot.item.as_deref()?))
    }
}

/// Both tables' items merged in order (the old table is empty unless migrating).
struct Iter<'a, V> {
    old: Peekable<Run<'a, V>>,
    new: Peekable<Run<'a, V>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a StoredKey, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let from_old = match (self.old.peek(), self.new.peek()) {
            (Some((a, x)), Some((b, y))) => (a, &x.0[..]) < (b, &y.0[..]),
            (old, _) => old.is_some(),
        };
        let (_, (key, value)) = if from_old { self.old.next() } else { self.new.next() }?;
        Some((key, value))
    }
}

impl<V> Default for Keyspace<V> {
    fn default() -> Self {
        Keyspace::new()
    }
}

impl<V> std::fmt::Debug for Keyspace<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("len", &self.len)
            .field("bits", &self.table.bits)
            .field("migrating", &self.old.is_some())
            .finish()
    }
}

/// The same items in the same order, whatever the tables' layout.
impl<V: PartialEq> PartialEq for Keyspace<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}
