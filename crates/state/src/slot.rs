//! Keys to slots, exactly as Redis Cluster: CRC16 (XMODEM) mod 16384 of the
//! key, or of its `{hash tag}` when the first `{` has a non-empty `}` after
//! it.

pub const SLOT_COUNT: u16 = 16384;

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, a byte at a
/// time through a table (every command's routing hashes its keys).
fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)])
}

/// The CRC of each byte value, computed bit by bit at compile time.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The part of a key that is hashed.
pub fn hash_part(key: &[u8]) -> &[u8] {
    // memchr: a byte-at-a-time scan was ~150 instructions a key here, and
    // every routed command takes it.
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

pub fn key_slot(key: &[u8]) -> u16 {
    slot_of_part(hash_part(key))
}

/// The slot of a key's hashed part (`hash_part`).
pub fn slot_of_part(part: &[u8]) -> u16 {
    crc16(part) % SLOT_COUNT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster() {
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"123456789"), 0x31C3 % SLOT_COUNT);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOT_COUNT);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") % SLOT_COUNT);
        assert_eq!(key_slot(b"foo{bar}{zap}"), crc16(b"bar") % SLOT_COUNT);
    }

    /// Every key of up to 7 bytes over `{`, `}` and `a` against the rule
    /// read byte by byte: the first `{`, then the first `}` after it.
    #[test]
    fn hash_part_takes_the_first_non_empty_tag() {
        fn naive(key: &[u8]) -> &[u8] {
            let Some(open) = key.iter().position(|&c| c == b'{') else { return key };
            match key[open + 1..].iter().position(|&c| c == b'}') {
                Some(len) if len > 0 => &key[open + 1..open + 1 + len],
                _ => key,
            }
        }
        let mut keys = vec![Vec::new()];
        for _ in 0..7 {
            let longer: Vec<Vec<u8>> =
                keys.iter().flat_map(|k: &Vec<u8>| b"{}a".iter().map(move |&c| [&k[..], &[c]].concat())).collect();
            for key in &longer {
                assert_eq!(hash_part(key), naive(key), "key {:?}", String::from_utf8_lossy(key));
            }
            keys = longer;
        }
    }
}
