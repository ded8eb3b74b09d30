//! The keyspace's key: a key's 48-bit hash (big-endian), then the key.
//!
//! The keyspace is a B-tree in this order, so SCAN walks it by hash
//! (`Db::scan`). The order is plain byte order, but compared eight bytes
//! at a time as one integer first: the hash nearly always decides, and a
//! `memcmp` call per comparison in every node of the descent cost more
//! than the rest of a lookup in a large keyspace (a flash-sale purchase
//! makes ~10 lookups among millions of keys).

use std::borrow::Borrow;
use std::cmp::Ordering;

/// An owned stored key (what the keyspace holds).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoredKey(pub(crate) Box<[u8]>);

/// A borrowed stored key (what lookups pass): the same bytes, the same
/// order, so `BTreeMap<StoredKey, _>` can be searched without a copy.
#[derive(Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct KeyRef([u8]);

impl KeyRef {
    pub fn new(stored: &[u8]) -> &KeyRef {
        // SAFETY: KeyRef is a transparent wrapper of [u8]: the same layout
        // and the same pointer metadata.
        unsafe { &*(stored as *const [u8] as *const KeyRef) }
    }
}

impl StoredKey {
    /// The bytes, for the expiry index (which holds its own copy).
    pub fn to_boxed(&self) -> Box<[u8]> {
        self.0.clone()
    }
}

impl std::ops::Deref for StoredKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<KeyRef> for StoredKey {
    fn borrow(&self) -> &KeyRef {
        KeyRef::new(&self.0)
    }
}

impl Ord for KeyRef {
    fn cmp(&self, other: &KeyRef) -> Ordering {
        compare(&self.0, &other.0)
    }
}

impl PartialOrd for KeyRef {
    fn partial_cmp(&self, other: &KeyRef) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StoredKey {
    fn cmp(&self, other: &StoredKey) -> Ordering {
        compare(&self.0, &other.0)
    }
}

impl PartialOrd for StoredKey {
    fn partial_cmp(&self, other: &StoredKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte order, the first eight bytes compared as one big-endian integer
/// (which orders them exactly as bytes do).
fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match (a.first_chunk::<8>(), b.first_chunk::<8>()) {
        (Some(x), Some(y)) => match u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y)) {
            Ordering::Equal => a[8..].cmp(&b[8..]),
            decided => decided,
        },
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_order_is_byte_order(a in prop::collection::vec(any::<u8>(), 0..20), b in prop::collection::vec(any::<u8>(), 0..20)) {
            prop_assert_eq!(compare(&a, &b), a.cmp(&b));
            let (x, y) = (StoredKey(a.clone().into()), StoredKey(b.clone().into()));
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(KeyRef::new(&a).cmp(KeyRef::new(&b)), a.cmp(&b));
        }
    }

    #[test]
    fn a_shared_prefix_is_decided_by_the_rest() {
        assert_eq!(compare(b"12345678a", b"12345678b"), Ordering::Less);
        assert_eq!(compare(b"12345678", b"12345678"), Ordering::Equal);
        assert_eq!(compare(b"12345678", b"123456789"), Ordering::Less);
        assert_eq!(compare(b"1234567", b"12345678"), Ordering::Less);
    }
}
