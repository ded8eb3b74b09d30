//! The keyspace's key: a key's 48-bit hash (big-endian), then the key, in
//! one allocation.
//!
//! The keyspace ([`crate::keyspace`]) keeps its items in the byte order of
//! these stored keys, i.e. by (hash, key), so SCAN walks it by hash
//! (`Db::scan`). The table keeps each item's hash inline in its slot, so
//! the key bytes are compared only when two hashes are equal.

/// Bytes of hash in front of the key.
pub const HASH_LEN: usize = 6;

/// An owned stored key (what the keyspace holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey(pub(crate) Box<[u8]>);

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

/// The key's 48-bit hash: 64-bit FNV-1a, then murmur3's `fmix64` finalizer
/// (FNV leaves the top bits poorly mixed for keys that differ only in their
/// last bytes, and the table's home slot is the top bits), keeping the top
/// 48 bits. Stable across processes: SCAN cursors stay valid across restarts
/// of the same version (snapshots hold user keys and re-hash on load).
pub fn hash48(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b53f_e1a8_5ec3);
    h ^= h >> 33;
    h >> 16
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
