//! The keyspace's key: a key's 48-bit hash (big-endian), then the key, in
//! one allocation.
//!
//! The keyspace ([`crate::keyspace`]) keeps its items in the byte order of
//! these stored keys, i.e. by (hash, key), so SCAN walks it by hash
//! (`Db::scan`). The table keeps each item's hash inline in its slot, so
//! the key bytes are compared only when two hashes are equal.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

/// Bytes of hash in front of the key.
pub const HASH_LEN: usize = 6;

/// An owned stored key (what the keyspace holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey(pub(crate) Box<[u8]>);

impl std::ops::Deref for StoredKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// The key's 48-bit hash: SipHash-1-3 (std's `RandomState`) under a key
/// drawn once per process, keeping the top 48 bits (the table's home slot
/// is the top bits). Keyed, as Redis's dict hash is: a client that picks
/// its keys cannot pile them onto one home and turn lookups into long
/// walks, even after learning hashes from SCAN cursors. So the order of
/// the keyspace, and SCAN cursors, belong to one process (as in Redis): no
/// replicated state depends on them (snapshots hold user keys and re-hash
/// on load; the expiry index is ordered by user key).
pub fn hash48(key: &[u8]) -> u64 {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    // The bytes alone (`hash_one` would add a length prefix: one more
    // round of the hasher per lookup).
    let mut hasher = SEED.get_or_init(RandomState::new).build_hasher();
    hasher.write(key);
    hasher.finish() >> 16
}

/// The stored form of `key`.
pub fn stored_key(key: &[u8]) -> StoredKey {
    let mut out = Vec::with_capacity(HASH_LEN + key.len());
    out.extend_from_slice(&hash48(key).to_be_bytes()[2..]);
    out.extend_from_slice(key);
    StoredKey(out.into_boxed_slice())
}

/// Runs `f` on the stored form of `key`, on the stack when it is short (a
/// lookup then allocates nothing).
pub(crate) fn with_stored<R>(key: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    const STACK: usize = 128;
    if key.len() + HASH_LEN > STACK {
        return f(&stored_key(key));
    }
    let mut buf = [0u8; STACK];
    buf[..HASH_LEN].copy_from_slice(&hash48(key).to_be_bytes()[2..]);
    buf[HASH_LEN..HASH_LEN + key.len()].copy_from_slice(key);
    f(&buf[..HASH_LEN + key.len()])
}

/// The user's key in a stored key.
pub fn user_key(stored: &[u8]) -> &[u8] {
    &stored[HASH_LEN..]
}

/// The hash in a stored key.
pub fn hash_of(stored: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&stored[..HASH_LEN]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_is_the_hash_then_the_key() {
        let stored = stored_key(b"user:42");
        assert_eq!(hash_of(&stored), hash48(b"user:42"));
        assert!(hash48(b"user:42") < 1 << 48);
        assert_eq!(user_key(&stored), b"user:42");
        assert_eq!(with_stored(b"user:42", |s| s.to_vec()), stored.to_vec());
        let long = vec![7u8; 300];
        assert_eq!(with_stored(&long, |s| s.to_vec()), stored_key(&long).to_vec());
    }
}
