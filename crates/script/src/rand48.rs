//! Redis's `math.random`: a 48-bit linear congruential generator (the
//! rand48 family). weir seeds it from the log entry before every script, so
//! a run draws the same sequence on the leader and on replay.

/// Redis's `REDIS_LRAND48_MAX`.
const LRAND48_MAX: i64 = i32::MAX as i64;
const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

#[derive(Clone, Copy, Debug)]
pub struct Rand48(u64);

impl Rand48 {
    /// `srand48(seed)`: the seed's 32 bits above the fixed low word 0x330E.
    pub fn seeded(seed: u32) -> Rand48 {
        Rand48((u64::from(seed) << 16) | 0x330E)
    }

    /// `lrand48()`: the next 31-bit value.
    pub fn next_i31(&mut self) -> i64 {
        self.0 = (A.wrapping_mul(self.0).wrapping_add(C)) & MASK;
        (self.0 >> 17) as i64
    }

    /// The value `math.random()` builds every result from, in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        (self.next_i31() % LRAND48_MAX) as f64 / LRAND48_MAX as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_c_library_sequence() {
        // glibc: srand48(0); lrand48() x3
        let mut r = Rand48::seeded(0);
        assert_eq!([r.next_i31(), r.next_i31(), r.next_i31()], [366850414, 1610402240, 206956554]);
    }
}
